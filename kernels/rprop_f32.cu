// Explicit instantiation: RpropOp, f32 storage.
#include "rprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<RpropOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
