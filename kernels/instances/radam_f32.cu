// Explicit instantiation: RAdamOp, f32 storage.
#include "kernels/optimizers/radam.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(RAdamOp, float);
FUSEDOPT_INSTANTIATE_FINISH(RAdamOp);
}  // namespace fusedopt::kernels
