// Explicit instantiation: NAdamOp, f16 parameters with fp32 master weights.
#include "kernels/optimizers/nadam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(NAdamOp, Half);
}  // namespace fusedopt::kernels
