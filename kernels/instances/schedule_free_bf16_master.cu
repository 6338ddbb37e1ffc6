// Explicit instantiation: schedule-free AdamW's step and its train/eval switch, bf16 parameters
// with fp32 master weights.
#include "kernels/optimizers/schedule_free.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_MASTER_STEP(ScheduleFreeAdamWOp, BFloat16);
FUSEDOPT_INSTANTIATE_MASTER_STEP(ScheduleFreeSwitchOp, BFloat16);
}  // namespace fusedopt::kernels
