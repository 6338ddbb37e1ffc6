// Explicit instantiation: RMSpropOp, f16 storage.
#include "kernels/optimizers/rmsprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RMSpropOp, Half);
}  // namespace fusedopt::kernels
