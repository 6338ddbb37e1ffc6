// Explicit instantiation: ASGDOp, f16 storage.
#include "asgd.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ASGDOp, Half);
}  // namespace fusedopt::kernels
