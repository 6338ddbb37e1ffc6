// Explicit instantiation: schedule-free AdamW's step and its train/eval switch, bf16 parameters
// with bf16 state, with and without fp32 master weights (NOTE(state-dtype)).
#include "kernels/optimizers/schedule_free.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeAdamWOp, Bf16State<BFloat16>);
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeAdamWOp, Bf16State<Master<BFloat16>>);
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeSwitchOp, Bf16State<BFloat16>);
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeSwitchOp, Bf16State<Master<BFloat16>>);
}  // namespace fusedopt::kernels
