// Explicit instantiation: AdagradOp, bf16 storage.
#include "kernels/optimizers/adagrad.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdagradOp, BFloat16);
}  // namespace fusedopt::kernels
