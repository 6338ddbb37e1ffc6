// Explicit instantiation: AdagradOp, f16 storage.
#include "kernels/optimizers/adagrad.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdagradOp, Half);
}  // namespace fusedopt::kernels
