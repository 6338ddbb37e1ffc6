// Explicit instantiation: AdadeltaOp, f32 storage.
#include "adadelta.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdadeltaOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
