// Explicit instantiation: RAdamOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/radam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(RAdamOp, Half);
}  // namespace fusedopt::kernels
