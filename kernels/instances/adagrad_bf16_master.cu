// Explicit instantiation: AdagradOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/adagrad.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdagradOp, BFloat16);
}  // namespace fusedopt::kernels
