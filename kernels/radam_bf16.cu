// Explicit instantiation: RAdamOp, bf16 storage.
#include "radam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<RAdamOp, BFloat16>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
