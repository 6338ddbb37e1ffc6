// Explicit instantiation: AdagradOp, bf16 storage.
#include "adagrad.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdagradOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
