// Explicit instantiation: AdamaxOp, f16 storage.
#include "adamax.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<AdamaxOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
