// Explicit instantiation: SGD, f16 storage.
#include "kernels/engine/multi_tensor.cuh"
#include "kernels/optimizers/sgd.h"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(SGDOp, Half);
}  // namespace fusedopt::kernels
