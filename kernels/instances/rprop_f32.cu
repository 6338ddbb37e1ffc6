// Explicit instantiation: RpropOp, f32 storage.
#include "kernels/optimizers/rprop.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RpropOp, float);
FUSEDOPT_INSTANTIATE_FINISH(RpropOp);
}  // namespace fusedopt::kernels
