// Explicit instantiation: ASGDOp, bf16 storage.
#include "kernels/optimizers/asgd.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ASGDOp, BFloat16);
}  // namespace fusedopt::kernels
