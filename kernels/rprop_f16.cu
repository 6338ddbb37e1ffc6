// Explicit instantiation: RpropOp, f16 storage.
#include "rprop.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RpropOp, Half);
}  // namespace fusedopt::kernels
