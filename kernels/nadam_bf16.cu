// Explicit instantiation: NAdamOp, bf16 storage.
#include "nadam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(NAdamOp, BFloat16);
}  // namespace fusedopt::kernels
