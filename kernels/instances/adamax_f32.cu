// Explicit instantiation: AdamaxOp, f32 storage.
#include "kernels/optimizers/adamax.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamaxOp, float);
FUSEDOPT_INSTANTIATE_FINISH(AdamaxOp);
}  // namespace fusedopt::kernels
