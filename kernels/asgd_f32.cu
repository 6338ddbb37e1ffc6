// Explicit instantiation: ASGDOp, f32 storage.
#include "asgd.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<ASGDOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
