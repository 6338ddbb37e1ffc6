// Explicit instantiation: SGD, f32 storage.
#include "multi_tensor.cuh"
#include "sgd.h"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(SGDOp, float);
FUSEDOPT_INSTANTIATE_FINISH(SGDOp);
}  // namespace fusedopt::kernels
