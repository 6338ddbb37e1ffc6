// Explicit instantiation: SGDOp, bf16 parameters with bf16 state, with and without fp32 master
// weights (NOTE(state-dtype)).
#include "kernels/optimizers/sgd.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(SGDOp, Bf16State<BFloat16>);
FUSEDOPT_INSTANTIATE_STEP(SGDOp, Bf16State<Master<BFloat16>>);
}  // namespace fusedopt::kernels
