// Explicit instantiation: RMSpropOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/rmsprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(RMSpropOp, BFloat16);
}  // namespace fusedopt::kernels
