// Explicit instantiation: ASGDOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/asgd.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(ASGDOp, BFloat16);
}  // namespace fusedopt::kernels
