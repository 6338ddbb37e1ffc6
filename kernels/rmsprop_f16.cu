// Explicit instantiation: RMSpropOp, f16 storage.
#include "rmsprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RMSpropOp, Half);
}  // namespace fusedopt::kernels
