// Explicit instantiation: Adam and AdamW, f16 storage.
#include "kernels/optimizers/adam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamStepOp, Half);
FUSEDOPT_INSTANTIATE_STEP(AdamWStepOp, Half);
}  // namespace fusedopt::kernels
