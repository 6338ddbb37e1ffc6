// Explicit instantiation: LionOp, bf16 parameters with bf16 state, with and without fp32 master
// weights (NOTE(state-dtype)).
#include "kernels/optimizers/lion.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(LionOp, Bf16State<BFloat16>);
FUSEDOPT_INSTANTIATE_STEP(LionOp, Bf16State<Master<BFloat16>>);
}  // namespace fusedopt::kernels
