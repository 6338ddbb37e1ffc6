// Explicit instantiation: AveragingOp, bf16 storage.
#include "averaging.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AveragingOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
