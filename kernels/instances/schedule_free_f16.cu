// Explicit instantiation: schedule-free AdamW's step and its train/eval switch, f16 storage.
#include "kernels/optimizers/schedule_free.h"
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeAdamWOp, Half);
FUSEDOPT_INSTANTIATE_STEP(ScheduleFreeSwitchOp, Half);
}  // namespace fusedopt::kernels
