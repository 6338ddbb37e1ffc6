// Explicit instantiation: RpropOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/rprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(RpropOp, Half);
}  // namespace fusedopt::kernels
