// Explicit instantiation: AdamaxOp, bf16 storage.
#include "kernels/optimizers/adamax.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamaxOp, BFloat16);
}  // namespace fusedopt::kernels
