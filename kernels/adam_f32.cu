// Explicit instantiation: Adam and AdamW, f32 storage.
#include "adam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdamStepOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
template void launch_step<AdamWStepOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
