// Explicit instantiation: RpropOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/rprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(RpropOp, BFloat16);
}  // namespace fusedopt::kernels
