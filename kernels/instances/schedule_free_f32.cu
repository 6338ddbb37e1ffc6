// Explicit instantiation: schedule-free AdamW's step and its train/eval switch, f32 storage.
#include "kernels/optimizers/schedule_free.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeAdamWOp, float);
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeSwitchOp, float);
FUSEDOPT_INSTANTIATE_FINISH(ScheduleFreeAdamWOp);
FUSEDOPT_INSTANTIATE_FINISH(ScheduleFreeSwitchOp);
}  // namespace fusedopt::kernels
