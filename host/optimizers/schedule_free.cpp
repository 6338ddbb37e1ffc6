#include "fusedopt/schedule_free.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/optimizers/schedule_free.h"
#include "host/engine/memory.hpp"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

using Schedule = AdamWScheduleFree::Schedule;

namespace {
using Op = kernels::ScheduleFreeAdamWOp;

// NOTE(schedule-free-scalars): the reference computes each step's scalars on the host from the
// group's schedule state, in Python floats (doubles); so does step() here, with the same
// operations in the same order, and writes them into the group's device scalars (Op's slots).
// The kernels read only those: the schedule state itself lives on the host and in the
// checkpoint's param_groups, as in the reference.
struct StepScalars {
  Schedule after;  // the group's schedule once the step is taken
  double lr, ckp1, bias_correction2;
};

StepScalars advance(const AdamWScheduleFreeOptions& o, const Schedule& s) {
  const double k = s.k;
  const double sched = k < o.warmup_steps() ? (k + 1) / o.warmup_steps() : 1.0;
  StepScalars out;
  out.bias_correction2 = 1 - std::pow(o.betas().second, k + 1);
  out.lr = o.lr() * sched;
  out.after.scheduled_lr = out.lr;
  out.after.lr_max = std::max(out.lr, s.lr_max);
  const double weight = std::pow(k + 1, o.r()) * std::pow(out.after.lr_max, o.weight_lr_power());
  out.after.weight_sum = s.weight_sum + weight;
  out.ckp1 = out.after.weight_sum != 0.0 ? weight / out.after.weight_sum : 0.0;  // as the reference
  out.after.k = k + 1;
  return out;
}

detail::GroupConfig step_config(const AdamWScheduleFreeOptions& o, const StepScalars& step) {
  detail::GroupConfig config;
  config.hyper[Op::kLr] = step.lr;
  config.hyper[Op::kYCoefficient] = step.lr * (o.betas().first * (1 - step.ckp1) - 1);
  config.hyper[Op::kCkp1] = step.ckp1;
  config.hyper[Op::kBeta2] = o.betas().second;
  config.hyper[Op::kBiasCorrection2] = step.bias_correction2;
  config.hyper[Op::kEps] = o.eps();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.num_states = 2;
  config.state_names = {"z", "exp_avg_sq"};
  return config;
}

/// The schedule state's keys in param_groups (the reference's names).
constexpr const char* kScheduleKeys[] = {"k", "lr_max", "weight_sum", "scheduled_lr"};
}  // namespace

/// Options -> the group's config. The step's scalars are placeholders (a first step's) until
/// before_step() writes the real ones.
detail::GroupConfig make_group_config(const AdamWScheduleFreeOptions& o) {
  return step_config(o, advance(o, Schedule{}));
}

// After make_group_config: the members it instantiates call it (clang looks it up here).
template class OptimizerWithOptions<AdamWScheduleFreeOptions>;

// NOTE(schedule-free-switch): train() and eval() run ScheduleFreeSwitchOp over the optimizer's
// own plan (the parameters and their z) as a fused launch per segment, with group scalars of
// their own (the lerp weight) and a scratch copy of the step counts: the op reads a step count
// to find the parameters that have state, and its launch advances the copy, not the real ones.
// No AMP factors, no frozen mask (the reference switches every parameter with state), rounding
// to nearest.
struct AdamWScheduleFree::Switch {
  detail::Buffer groups;
  detail::Buffer steps;
  std::vector<kernels::GroupScalars> host_groups;
};

AdamWScheduleFree::AdamWScheduleFree(std::vector<Group> groups, AdamWScheduleFreeOptions defaults)
    : OptimizerWithOptions(std::move(groups), std::move(defaults)),
      switch_(std::make_unique<Switch>()) {}

AdamWScheduleFree::AdamWScheduleFree(std::vector<Param> params, AdamWScheduleFreeOptions defaults)
    : AdamWScheduleFree(std::vector<Group>{Group{std::move(params), std::nullopt}},
                        std::move(defaults)) {}

AdamWScheduleFree::~AdamWScheduleFree() = default;

void AdamWScheduleFree::cover_groups() const { schedules_.resize(num_param_groups()); }

const Schedule& AdamWScheduleFree::schedule(std::size_t group) const {
  options(group);  // checks the index
  cover_groups();
  return schedules_[group];
}

void AdamWScheduleFree::before_step() {
  if (!train_mode_)
    detail::throw_error("AdamWScheduleFree::step: the optimizer is in eval mode; call train() "
                        "before training steps (as the reference requires)");
  detail::Engine& e = engine();
  detail::require_not_capturing(e.device(), e.stream(),
                                "AdamWScheduleFree::step (the host advances the schedule)");
  if (const float* found_inf = e.found_inf()) {  // a step the device skips leaves the schedule
    float value = 0.0f;
    detail::copy_to_host(&value, found_inf, sizeof value, e.device(), e.stream());
    if (value != 0.0f) return;
  }
  cover_groups();
  std::vector<StepScalars> steps;
  for (std::size_t g = 0; g < num_param_groups(); ++g)
    steps.push_back(advance(options(g), schedules_[g]));
  for (std::size_t g = 0; g < num_param_groups(); ++g) {
    update_group(g, step_config(options(g), steps[g]));
    schedules_[g] = steps[g].after;
  }
}

void AdamWScheduleFree::train() {
  if (!train_mode_) run_switch(true);
}

void AdamWScheduleFree::eval() {
  if (train_mode_) run_switch(false);
}

void AdamWScheduleFree::run_switch(bool to_train) {
  detail::Engine& e = engine();
  detail::require_not_capturing(e.device(), e.stream(),
                                to_train ? "AdamWScheduleFree::train" : "AdamWScheduleFree::eval");
  for (const detail::SegmentLaunch& segment : e.segments()) check_built(segment);
  Switch& s = *switch_;
  const std::size_t groups = num_param_groups();
  s.host_groups.assign(groups, kernels::GroupScalars{});
  for (std::size_t g = 0; g < groups; ++g) {
    const double beta1 = options(g).betas().first;
    s.host_groups[g].hyper[kernels::ScheduleFreeSwitchOp::kWeight] =
        to_train ? 1 - beta1 : 1 - 1 / beta1;
  }
  const std::size_t group_bytes = groups * sizeof(kernels::GroupScalars);
  const std::size_t step_bytes = e.num_params() * sizeof(float);
  if (s.groups.bytes() < group_bytes) s.groups = detail::Buffer(group_bytes, e.device(), e.stream());
  if (s.steps.bytes() < step_bytes) s.steps = detail::Buffer(step_bytes, e.device(), e.stream());
  s.groups.bind_stream(e.stream());
  s.steps.bind_stream(e.stream());
  detail::copy_from_host(s.groups.data(), s.host_groups.data(), group_bytes, e.device(), e.stream());
  if (!e.segments().empty())  // every segment reads the same step counts
    detail::copy_on_device(s.steps.data(), e.segments().front().scalars.steps, step_bytes,
                           e.device(), e.stream());
  for (const detail::SegmentLaunch& segment : e.segments()) {
    detail::SegmentLaunch sw = segment;
    sw.scalars.groups = static_cast<const kernels::GroupScalars*>(s.groups.data());
    sw.scalars.steps = static_cast<float*>(s.steps.data());
    sw.scalars.grad_scale = nullptr;
    sw.scalars.found_inf = nullptr;
    sw.scalars.enabled = nullptr;
    sw.scalars.grad_norm = nullptr;
    sw.impl = Impl::Fused;
    sw.stochastic = false;
    sw.host_groups = s.host_groups.data();
    sw.stream = e.stream();
    detail::run_step<kernels::ScheduleFreeSwitchOp>(sw);
  }
  train_mode_ = to_train;
}

void AdamWScheduleFree::launch(const detail::SegmentLaunch& segment) const {
  detail::run_step<Op>(segment);
}

void AdamWScheduleFree::check_built(const detail::SegmentLaunch& segment) const {
  detail::check_built(FUSEDOPT_BUILT_STORAGE, segment, name(), FUSEDOPT_LIST_NAME);
}

StepCost AdamWScheduleFree::segment_cost(const detail::SegmentLaunch& segment) const {
  return detail::step_cost<Op>(segment);
}

int AdamWScheduleFree::num_temps() const { return Op::kNumTemps; }

HyperMap AdamWScheduleFree::group_options(std::size_t group) const {
  HyperMap map = OptimizerWithOptions::group_options(group);
  const Schedule& s = schedule(group);
  map["k"] = s.k;
  map["lr_max"] = s.lr_max;
  map["weight_sum"] = s.weight_sum;
  map["scheduled_lr"] = s.scheduled_lr;
  map["train_mode"] = train_mode_;
  return map;
}

std::function<void()> AdamWScheduleFree::stage_options(const std::vector<GroupState>& groups) {
  std::vector<GroupState> options = groups;
  std::vector<Schedule> schedules(groups.size());
  bool train_mode = train_mode_;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::string where = "AdamWScheduleFree param_groups[" + std::to_string(g) + "]";
    HyperMap& map = options[g].options;
    double values[4] = {};
    for (int i = 0; i < 4; ++i) {
      const auto it = map.find(kScheduleKeys[i]);
      if (it == map.end()) detail::throw_error(where, ": \"", kScheduleKeys[i], "\" is missing");
      const double* value = std::get_if<double>(&it->second);
      if (value == nullptr)
        detail::throw_error(where, ": \"", kScheduleKeys[i], "\" must be a number");
      values[i] = *value;
      map.erase(it);
    }
    Schedule& s = schedules[g];
    s = {values[0], values[1], values[2], values[3]};
    detail::require(s.k >= 0 && s.k <= 9007199254740992.0 && s.k == std::floor(s.k), where, "k",
                    "an integer >= 0", s.k);
    detail::require(std::isfinite(s.lr_max), where, "lr_max", "finite", s.lr_max);
    detail::require_non_negative(where, "weight_sum", s.weight_sum);
    detail::require(std::isfinite(s.scheduled_lr), where, "scheduled_lr", "finite", s.scheduled_lr);
    const auto mode = map.find("train_mode");
    if (mode == map.end()) detail::throw_error(where, ": \"train_mode\" is missing");
    const bool* flag = std::get_if<bool>(&mode->second);
    if (flag == nullptr) detail::throw_error(where, ": \"train_mode\" must be a bool");
    if (g == 0) train_mode = *flag;  // the reference's step() checks group 0's
    map.erase(mode);
  }
  std::function<void()> commit = OptimizerWithOptions::stage_options(options);
  return [this, commit = std::move(commit), schedules = std::move(schedules), train_mode]() {
    commit();
    schedules_ = schedules;
    train_mode_ = train_mode;
  };
}

}  // namespace fusedopt
