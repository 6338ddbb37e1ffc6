// Explicit instantiation: AdagradOp, f16 storage.
#include "adagrad.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdagradOp, Half);
}  // namespace fusedopt::kernels
