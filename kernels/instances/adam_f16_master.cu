// Explicit instantiation: AdamStepOp, AdamWStepOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/adam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdamStepOp, Half);
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdamWStepOp, Half);
}  // namespace fusedopt::kernels
