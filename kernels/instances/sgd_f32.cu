// Explicit instantiation: SGD, f32 storage.
#include "kernels/engine/multi_tensor.cuh"
#include "kernels/optimizers/sgd.h"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(SGDOp, float);
FUSEDOPT_INSTANTIATE_FINISH(SGDOp);
}  // namespace fusedopt::kernels
