// Explicit instantiation: NAdamOp, f32 storage.
#include "nadam.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(NAdamOp, float);
FUSEDOPT_INSTANTIATE_FINISH(NAdamOp);
}  // namespace fusedopt::kernels
