// Explicit instantiation: AveragingOp, bf16 storage.
#include "kernels/optimizers/averaging.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AveragingOp, BFloat16);
}  // namespace fusedopt::kernels
