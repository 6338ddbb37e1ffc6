// Explicit instantiation: AdamaxOp, f16 storage.
#include "kernels/optimizers/adamax.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamaxOp, Half);
}  // namespace fusedopt::kernels
