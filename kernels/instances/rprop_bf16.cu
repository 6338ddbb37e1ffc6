// Explicit instantiation: RpropOp, bf16 storage.
#include "kernels/optimizers/rprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RpropOp, BFloat16);
}  // namespace fusedopt::kernels
