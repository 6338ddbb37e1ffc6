// Explicit instantiation: AdagradOp, f32 storage.
#include "adagrad.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdagradOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
