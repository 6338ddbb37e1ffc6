// Explicit instantiation: ASGDOp, bf16 storage.
#include "asgd.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ASGDOp, BFloat16);
}  // namespace fusedopt::kernels
