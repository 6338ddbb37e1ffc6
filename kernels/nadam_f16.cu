// Explicit instantiation: NAdamOp, f16 storage.
#include "nadam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_step<NAdamOp, Half>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
