#pragma once
// Schedule-free AdamW: the reference package's AdamWScheduleFree (facebookresearch/schedule_free).
#include <cstddef>
#include <memory>
#include <vector>

#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_ADAMW_SCHEDULE_FREE_OPTIONS(OPTION, PAIR)    \
  OPTION(double, lr, 0.0025, non_negative)                    \
  PAIR(betas, kDefaultBetas, beta1, open_unit, beta2, beta)   \
  OPTION(double, eps, 1e-8, non_negative)                     \
  OPTION(double, weight_decay, 0.0, non_negative)             \
  OPTION(double, warmup_steps, 0.0, non_negative)             \
  OPTION(double, r, 0.0, finite)                              \
  OPTION(double, weight_lr_power, 2.0, non_negative)

/// schedulefree.AdamWScheduleFree's options: FUSEDOPT_ADAMW_SCHEDULE_FREE_OPTIONS above.
/// weight_decay is taken at y, added to the normalized gradient, as the reference does. beta1
/// must be above 0: eval() moves the parameters by lerp(p, z, 1 - 1/beta1).
class AdamWScheduleFreeOptions {
  FUSEDOPT_DECLARE_OPTIONS(AdamWScheduleFreeOptions, AdamWScheduleFreeOptions,
                           FUSEDOPT_ADAMW_SCHEDULE_FREE_OPTIONS)
  static constexpr const char* kOptimizer = "AdamWScheduleFree";
};

/// Schedule-free AdamW. No LR schedule is needed (warmup_steps gives a linear warmup); the
/// parameters hold y during training, and eval() switches them to x, the average that is the
/// model to evaluate and to save:
///
///   fo::AdamWScheduleFree opt(params, fo::AdamWScheduleFreeOptions().lr(1e-3).warmup_steps(100));
///   opt.train();                        // as the reference, the optimizer starts in eval mode
///   for (...) { engine.backward(); opt.step(); }
///   opt.eval();  evaluate();  opt.train();
///
/// Each group keeps the reference's schedule state (param_groups' k, lr_max, weight_sum,
/// scheduled_lr, train_mode), saved and loaded with the checkpoint. The host advances it on
/// every step() (NOTE(schedule-free-scalars) in host/optimizers/schedule_free.cpp), so a step
/// cannot be captured in a CUDA graph, and with a found_inf bound (set_grad_scaling) step()
/// reads it first (a synchronization) so that a skipped step leaves the schedule unchanged.
class AdamWScheduleFree : public OptimizerWithOptions<AdamWScheduleFreeOptions> {
 public:
  /// A group's schedule state, as the reference keeps it in param_groups.
  struct Schedule {
    double k = 0;              // steps taken by the group
    double lr_max = -1.0;      // the largest scheduled lr so far
    double weight_sum = 0.0;   // sum of the averaging weights
    double scheduled_lr = 0.0;  // the lr of the latest step (warmup applied)
  };

  AdamWScheduleFree(std::vector<Group> groups, AdamWScheduleFreeOptions defaults = {});
  AdamWScheduleFree(std::vector<Param> params, AdamWScheduleFreeOptions defaults = {});
  ~AdamWScheduleFree() override;
  const char* name() const override { return AdamWScheduleFreeOptions::kOptimizer; }

  /// The reference's train(): parameters that have state move from x to y
  /// (p.lerp_(z, 1 - beta1)); a no-op in train mode. One launch per storage dtype.
  void train();
  /// The reference's eval(): parameters that have state move from y to x
  /// (p.lerp_(z, 1 - 1/beta1)); a no-op in eval mode.
  void eval();
  /// Whether the parameters hold y (train mode). step() throws in eval mode.
  bool train_mode() const { return train_mode_; }
  const Schedule& schedule(std::size_t group) const;

 protected:
  void before_step() override;
  void launch(const detail::SegmentLaunch& segment) const override;
  void check_built(const detail::SegmentLaunch& segment) const override;
  StepCost segment_cost(const detail::SegmentLaunch& segment) const override;
  int num_temps() const override;
  HyperMap group_options(std::size_t group) const override;
  std::function<void()> stage_options(const std::vector<GroupState>& groups) override;

 private:
  struct Switch;
  /// Moves every parameter with state by p.lerp_(z, weight(beta1)) (NOTE(schedule-free-switch)).
  void run_switch(bool to_train);
  /// schedules_ covers every group (add_param_group adds groups at their initial schedule).
  void cover_groups() const;
  mutable std::vector<Schedule> schedules_;
  bool train_mode_ = false;
  std::unique_ptr<Switch> switch_;
};

}  // namespace fusedopt
