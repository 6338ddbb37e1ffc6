// Explicit instantiation: AdadeltaOp, bf16 parameters with bf16 state, with and without fp32 master
// weights (NOTE(state-dtype)).
#include "kernels/optimizers/adadelta.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(AdadeltaOp, Bf16State<BFloat16>);
FUSEDOPT_INSTANTIATE_STEP(AdadeltaOp, Bf16State<Master<BFloat16>>);
}  // namespace fusedopt::kernels
