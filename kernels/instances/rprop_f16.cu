// Explicit instantiation: RpropOp, f16 storage.
#include "kernels/optimizers/rprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RpropOp, Half);
}  // namespace fusedopt::kernels
