// Explicit instantiation: AdagradOp, bf16 storage.
#include "adagrad.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdagradOp, BFloat16);
}  // namespace fusedopt::kernels
