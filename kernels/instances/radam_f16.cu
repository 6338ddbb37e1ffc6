// Explicit instantiation: RAdamOp, f16 storage.
#include "kernels/optimizers/radam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RAdamOp, Half);
}  // namespace fusedopt::kernels
