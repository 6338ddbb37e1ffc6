// Explicit instantiation: ASGDOp, f16 storage.
#include "kernels/optimizers/asgd.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ASGDOp, Half);
}  // namespace fusedopt::kernels
