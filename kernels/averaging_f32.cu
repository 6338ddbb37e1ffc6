// Explicit instantiation: AveragingOp, f32 storage.
#include "averaging.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AveragingOp, float);
FUSEDOPT_INSTANTIATE_FINISH(AveragingOp);
}  // namespace fusedopt::kernels
