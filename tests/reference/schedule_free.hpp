#pragma once
// Double-precision reference of schedule-free AdamW, written from the reference package's
// AdamWScheduleFree (facebookresearch/schedule_free, schedulefree 1.4.1,
// adamw_schedulefree.py: step(), train(), eval()). Shares no code with kernels/ or host/.
//
// The schedule is a group's (param_groups' k, lr_max, weight_sum); a parameter's state (z and
// exp_avg_sq) is created at its first step, z as a copy of the parameter.
#include <cstdint>

#include "reference.hpp"

namespace fusedopt::reference {

struct ScheduleFreeConfig {
  double lr = 0.0025, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double warmup_steps = 0, r = 0, weight_lr_power = 2.0;
};

/// A group's schedule, advanced once per step of the group.
struct ScheduleFreeSchedule {
  double k = 0, lr_max = -1.0, weight_sum = 0.0, scheduled_lr = 0.0;
};

/// The scalars of one step of a group.
struct ScheduleFreeStepScalars {
  double lr, ckp1, bias_correction2;
};
/// Advances the group's schedule by one step and returns that step's scalars.
ScheduleFreeStepScalars schedule_free_advance(const ScheduleFreeConfig& config,
                                              ScheduleFreeSchedule& schedule);

struct ScheduleFreeState {
  bool has_state = false;
  Vec z, exp_avg_sq;
};
/// One parameter's step with its group's scalars (the parameter holds y).
void schedule_free_step(const ScheduleFreeConfig& config, const ScheduleFreeStepScalars& step,
                        Vec& param, const Vec& grad, ScheduleFreeState& state);
/// train() (to_train: x -> y) or eval() (y -> x) for one parameter; none without state.
void schedule_free_switch(const ScheduleFreeConfig& config, bool to_train, Vec& param,
                          const ScheduleFreeState& state);

}  // namespace fusedopt::reference
