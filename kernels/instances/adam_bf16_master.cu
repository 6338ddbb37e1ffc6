// Explicit instantiation: AdamStepOp, AdamWStepOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/adam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdamStepOp, BFloat16);
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdamWStepOp, BFloat16);
}  // namespace fusedopt::kernels
