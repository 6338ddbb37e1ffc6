// Explicit instantiation: RAdamOp, f16 storage.
#include "radam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RAdamOp, Half);
}  // namespace fusedopt::kernels
