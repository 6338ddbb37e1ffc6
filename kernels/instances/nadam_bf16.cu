// Explicit instantiation: NAdamOp, bf16 storage.
#include "kernels/optimizers/nadam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(NAdamOp, BFloat16);
}  // namespace fusedopt::kernels
