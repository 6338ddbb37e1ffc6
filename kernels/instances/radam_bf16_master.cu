// Explicit instantiation: RAdamOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/radam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(RAdamOp, BFloat16);
}  // namespace fusedopt::kernels
