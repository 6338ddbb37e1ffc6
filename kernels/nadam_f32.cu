// Explicit instantiation: NAdamOp, f32 storage.
#include "nadam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<NAdamOp, float>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
