// Explicit instantiation: AdagradOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/adagrad.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdagradOp, Half);
}  // namespace fusedopt::kernels
