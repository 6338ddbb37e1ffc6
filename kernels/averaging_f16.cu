// Explicit instantiation: AveragingOp, f16 storage.
#include "averaging.h"
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AveragingOp, Half);
}  // namespace fusedopt::kernels
