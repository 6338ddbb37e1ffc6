// Explicit instantiation: RMSpropOp, bf16 storage.
#include "rmsprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<RMSpropOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
