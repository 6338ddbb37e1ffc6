// Explicit instantiation: LionOp, bf16 storage.
#include "kernels/optimizers/lion.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(LionOp, BFloat16);
}  // namespace fusedopt::kernels
