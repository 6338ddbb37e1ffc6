// Explicit instantiation: AdadeltaOp, f16 storage.
#include "adadelta.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdadeltaOp, Half);
}  // namespace fusedopt::kernels
