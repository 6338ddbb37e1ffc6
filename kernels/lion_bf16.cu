// Explicit instantiation: LionOp, bf16 storage.
#include "lion.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(LionOp, BFloat16);
}  // namespace fusedopt::kernels
