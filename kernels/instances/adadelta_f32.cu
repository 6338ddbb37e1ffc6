// Explicit instantiation: AdadeltaOp, f32 storage.
#include "kernels/optimizers/adadelta.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdadeltaOp, float);
FUSEDOPT_INSTANTIATE_FINISH(AdadeltaOp);
}  // namespace fusedopt::kernels
