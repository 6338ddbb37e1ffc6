// Explicit instantiation: AdadeltaOp, bf16 storage.
#include "adadelta.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdadeltaOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
