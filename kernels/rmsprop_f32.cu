// Explicit instantiation: RMSpropOp, f32 storage.
#include "rmsprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RMSpropOp, float);
FUSEDOPT_INSTANTIATE_FINISH(RMSpropOp);
}  // namespace fusedopt::kernels
