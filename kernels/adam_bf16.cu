// Explicit instantiation: Adam and AdamW, bf16 storage.
#include "adam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamStepOp, BFloat16);
FUSEDOPT_INSTANTIATE_STEP(AdamWStepOp, BFloat16);
}  // namespace fusedopt::kernels
