// Explicit instantiation: AdamaxOp, f32 storage.
#include "adamax.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdamaxOp, float);
FUSEDOPT_INSTANTIATE_FINISH(AdamaxOp);
}  // namespace fusedopt::kernels
