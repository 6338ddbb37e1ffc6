// Explicit instantiation: LionOp, f32 storage.
#include "lion.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(LionOp, float);
FUSEDOPT_INSTANTIATE_FINISH(LionOp);
}  // namespace fusedopt::kernels
