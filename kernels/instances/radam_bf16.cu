// Explicit instantiation: RAdamOp, bf16 storage.
#include "kernels/optimizers/radam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RAdamOp, BFloat16);
}  // namespace fusedopt::kernels
