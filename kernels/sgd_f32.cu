// Explicit instantiation: SGD, f32 storage.
#include "multi_tensor.cuh"
#include "sgd.h"

namespace fusedopt::kernels {
template void launch_step<SGDOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
