// Explicit instantiation: LionOp, f32 storage.
#include "lion.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<LionOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
