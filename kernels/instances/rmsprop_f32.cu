// Explicit instantiation: RMSpropOp, f32 storage.
#include "kernels/optimizers/rmsprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RMSpropOp, float);
FUSEDOPT_INSTANTIATE_FINISH(RMSpropOp);
}  // namespace fusedopt::kernels
