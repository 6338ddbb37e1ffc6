// Explicit instantiation: Adam and AdamW, bf16 storage.
#include "kernels/optimizers/adam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamStepOp, BFloat16);
FUSEDOPT_INSTANTIATE_STEP(AdamWStepOp, BFloat16);
}  // namespace fusedopt::kernels
