// Explicit instantiation: RAdamOp, f16 storage.
#include "radam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<RAdamOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
