// Explicit instantiation: AdamaxOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/adamax.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdamaxOp, BFloat16);
}  // namespace fusedopt::kernels
