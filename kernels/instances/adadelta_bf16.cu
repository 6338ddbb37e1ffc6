// Explicit instantiation: AdadeltaOp, bf16 storage.
#include "kernels/optimizers/adadelta.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdadeltaOp, BFloat16);
}  // namespace fusedopt::kernels
