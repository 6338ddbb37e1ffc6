// Explicit instantiation: AdamaxOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/adamax.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdamaxOp, Half);
}  // namespace fusedopt::kernels
