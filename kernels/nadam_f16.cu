// Explicit instantiation: NAdamOp, f16 storage.
#include "nadam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(NAdamOp, Half);
}  // namespace fusedopt::kernels
