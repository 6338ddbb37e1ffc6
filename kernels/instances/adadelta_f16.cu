// Explicit instantiation: AdadeltaOp, f16 storage.
#include "kernels/optimizers/adadelta.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdadeltaOp, Half);
}  // namespace fusedopt::kernels
