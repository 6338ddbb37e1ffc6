// Explicit instantiation: LionOp, f16 storage.
#include "kernels/optimizers/lion.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(LionOp, Half);
}  // namespace fusedopt::kernels
