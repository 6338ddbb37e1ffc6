// Explicit instantiation: ASGDOp, f32 storage.
#include "kernels/optimizers/asgd.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ASGDOp, float);
FUSEDOPT_INSTANTIATE_FINISH(ASGDOp);
}  // namespace fusedopt::kernels
