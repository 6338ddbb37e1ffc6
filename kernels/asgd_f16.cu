// Explicit instantiation: ASGDOp, f16 storage.
#include "asgd.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<ASGDOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
