// Explicit instantiation: SGD, bf16 storage.
#include "multi_tensor.cuh"
#include "sgd.h"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(SGDOp, BFloat16);
}  // namespace fusedopt::kernels
