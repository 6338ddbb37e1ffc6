// Explicit instantiation: RpropOp, f16 storage.
#include "rprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<RpropOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
