// Explicit instantiation: AdamaxOp, f16 storage.
#include "adamax.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamaxOp, Half);
}  // namespace fusedopt::kernels
