// Explicit instantiation: SGD, bf16 storage.
#include "kernels/engine/multi_tensor.cuh"
#include "kernels/optimizers/sgd.h"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(SGDOp, BFloat16);
}  // namespace fusedopt::kernels
