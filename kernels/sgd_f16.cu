// Explicit instantiation: SGD, f16 storage.
#include "multi_tensor.cuh"
#include "sgd.h"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(SGDOp, Half);
}  // namespace fusedopt::kernels
