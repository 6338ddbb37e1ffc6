// Explicit instantiation: NAdamOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/nadam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(NAdamOp, BFloat16);
}  // namespace fusedopt::kernels
