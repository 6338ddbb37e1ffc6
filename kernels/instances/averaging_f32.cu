// Explicit instantiation: AveragingOp, f32 storage.
#include "kernels/optimizers/averaging.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AveragingOp, float);
FUSEDOPT_INSTANTIATE_FINISH(AveragingOp);
}  // namespace fusedopt::kernels
