// Explicit instantiation: SGD, bf16 storage.
#include "multi_tensor.cuh"
#include "sgd.h"

namespace fusedopt::kernels {
template void launch_step<SGDOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
