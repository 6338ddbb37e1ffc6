// Explicit instantiation: Adam and AdamW, f16 storage.
#include "adam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamStepOp, Half);
FUSEDOPT_INSTANTIATE_STEP(AdamWStepOp, Half);
}  // namespace fusedopt::kernels
