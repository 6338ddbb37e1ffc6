// Explicit instantiation: RMSpropOp, f32 storage.
#include "rmsprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<RMSpropOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
