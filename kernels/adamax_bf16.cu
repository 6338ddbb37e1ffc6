// Explicit instantiation: AdamaxOp, bf16 storage.
#include "adamax.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamaxOp, BFloat16);
}  // namespace fusedopt::kernels
