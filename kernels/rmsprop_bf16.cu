// Explicit instantiation: RMSpropOp, bf16 storage.
#include "rmsprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RMSpropOp, BFloat16);
}  // namespace fusedopt::kernels
