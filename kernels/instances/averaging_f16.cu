// Explicit instantiation: AveragingOp, f16 storage.
#include "kernels/optimizers/averaging.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AveragingOp, Half);
}  // namespace fusedopt::kernels
