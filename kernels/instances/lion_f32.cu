// Explicit instantiation: LionOp, f32 storage.
#include "kernels/optimizers/lion.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(LionOp, float);
FUSEDOPT_INSTANTIATE_FINISH(LionOp);
}  // namespace fusedopt::kernels
