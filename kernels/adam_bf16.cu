// Explicit instantiation: Adam and AdamW, bf16 storage.
#include "adam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdamStepOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
template void launch_step<AdamWStepOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
