// Explicit instantiation: ASGDOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/asgd.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(ASGDOp, Half);
}  // namespace fusedopt::kernels
