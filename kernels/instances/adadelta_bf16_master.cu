// Explicit instantiation: AdadeltaOp, bf16 parameters with fp32 master weights.
#include "kernels/optimizers/adadelta.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(AdadeltaOp, BFloat16);
}  // namespace fusedopt::kernels
