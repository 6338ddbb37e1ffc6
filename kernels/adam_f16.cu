// Explicit instantiation: Adam and AdamW, f16 storage.
#include "adam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdamStepOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
template void launch_step<AdamWStepOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
