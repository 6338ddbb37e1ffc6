// Explicit instantiation: RMSpropOp, bf16 storage.
#include "kernels/optimizers/rmsprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RMSpropOp, BFloat16);
}  // namespace fusedopt::kernels
