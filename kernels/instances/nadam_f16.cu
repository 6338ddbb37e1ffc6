// Explicit instantiation: NAdamOp, f16 storage.
#include "kernels/optimizers/nadam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(NAdamOp, Half);
}  // namespace fusedopt::kernels
