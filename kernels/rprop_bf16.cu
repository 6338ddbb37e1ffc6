// Explicit instantiation: RpropOp, bf16 storage.
#include "rprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RpropOp, BFloat16);
}  // namespace fusedopt::kernels
