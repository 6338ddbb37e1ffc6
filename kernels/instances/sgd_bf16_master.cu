// Explicit instantiation: SGDOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/sgd.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(SGDOp, BFloat16);
}  // namespace fusedopt::kernels
