// Explicit instantiation: AveragingOp, f16 storage.
#include "averaging.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AveragingOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
