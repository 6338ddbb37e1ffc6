// Explicit instantiation: AdadeltaOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/adadelta.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdadeltaOp, Half);
}  // namespace fusedopt::kernels
