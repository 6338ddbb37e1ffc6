// Explicit instantiation: LionOp, bf16 storage.
#include "lion.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<LionOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
