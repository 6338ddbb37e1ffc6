// Explicit instantiation: LionOp, f16 storage.
#include "lion.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(LionOp, Half);
}  // namespace fusedopt::kernels
