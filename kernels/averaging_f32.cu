// Explicit instantiation: AveragingOp, f32 storage.
#include "averaging.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AveragingOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
