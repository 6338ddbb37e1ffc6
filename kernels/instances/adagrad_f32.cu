// Explicit instantiation: AdagradOp, f32 storage.
#include "kernels/optimizers/adagrad.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdagradOp, float);
FUSEDOPT_INSTANTIATE_FINISH(AdagradOp);
}  // namespace fusedopt::kernels
