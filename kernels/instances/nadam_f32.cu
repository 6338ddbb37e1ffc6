// Explicit instantiation: NAdamOp, f32 storage.
#include "kernels/optimizers/nadam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(NAdamOp, float);
FUSEDOPT_INSTANTIATE_FINISH(NAdamOp);
}  // namespace fusedopt::kernels
