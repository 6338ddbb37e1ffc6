// Explicit instantiation: Adam and AdamW, f32 storage.
#include "kernels/optimizers/adam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamStepOp, float);
FUSEDOPT_INSTANTIATE_STEP(AdamWStepOp, float);
FUSEDOPT_INSTANTIATE_FINISH(AdamStepOp);
FUSEDOPT_INSTANTIATE_FINISH(AdamWStepOp);
}  // namespace fusedopt::kernels
