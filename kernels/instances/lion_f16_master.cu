// Explicit instantiation: LionOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/lion.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(LionOp, Half);
}  // namespace fusedopt::kernels
