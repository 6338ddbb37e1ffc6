// Explicit instantiation: LionOp, f16 storage.
#include "lion.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<LionOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
