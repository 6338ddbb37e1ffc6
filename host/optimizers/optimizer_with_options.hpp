#pragma once
// Definitions of OptimizerWithOptions<Options>; included by each optimizer's .cpp, which
// instantiates it for its options type and provides `make_group_config(const Options&)`.
#include <string>
#include <tuple>

#include "host/engine/configs.hpp"
#include "host/engine/engine.hpp"
#include "host/engine/executor.hpp"
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

template <class Options>
OptimizerWithOptions<Options>::OptimizerWithOptions(std::vector<Group> groups, Options defaults)
    : defaults_(std::move(defaults)) {
  defaults_.validate(std::string(Options::kOptimizer) + " defaults");
  if (groups.empty())
    detail::throw_error(Options::kOptimizer, ": param_groups is empty (got an empty parameter list)");
  add_groups_checked(std::move(groups), 0);
}

template <class Options>
void OptimizerWithOptions<Options>::add_groups_checked(std::vector<Group> groups,
                                                       std::size_t first_index) {
  std::vector<Options> resolved;
  std::vector<std::vector<Param>> params;
  std::vector<detail::GroupConfig> configs;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    Options options = groups[k].options.value_or(defaults_);
    options.inherit(defaults_);
    options.validate(std::string(Options::kOptimizer) + " param_groups[" +
                     std::to_string(first_index + k) + "]");
    configs.push_back(make_group_config(options));
    resolved.push_back(std::move(options));
    params.push_back(std::move(groups[k].params));
  }
  add_groups(params, configs);  // validates the parameters; throws before changing anything
  options_.insert(options_.end(), resolved.begin(), resolved.end());
}

template <class Options>
void OptimizerWithOptions<Options>::check_group(std::size_t group) const {
  if (group >= options_.size())
    detail::throw_error("group = ", group, " is out of range: ", Options::kOptimizer, " has ",
                        options_.size(), " param group(s)");
}

template <class Options>
void OptimizerWithOptions<Options>::set_options(std::size_t group, Options options) {
  check_group(group);
  // An option the call does not set keeps the group's Setting, value and is_set flag both.
  const Options& current = options_[group];
  auto keep = [&](auto field) {
    if (!(options.*(field.member)).is_set()) options.*(field.member) = current.*(field.member);
  };
  detail::for_each_field<Options>(keep);
  options.validate(std::string(Options::kOptimizer) + " param_groups[" + std::to_string(group) +
                   "]");
  update_group(group, make_group_config(options));
  options_[group] = std::move(options);
}

template <class Options>
void OptimizerWithOptions<Options>::reset_options(std::size_t group, Options overrides) {
  check_group(group);
  overrides.inherit(defaults_);
  overrides.validate(std::string(Options::kOptimizer) + " param_groups[" +
                     std::to_string(group) + "]");
  update_group(group, make_group_config(overrides));
  options_[group] = std::move(overrides);
}

template <class Options>
double OptimizerWithOptions<Options>::get(std::size_t group, std::string_view name) const {
  check_group(group);
  const std::optional<double> value = options_[group].get(name);
  if (!value)
    detail::throw_error("name = \"", name, "\" is not a numeric hyper-parameter of ",
                        Options::kOptimizer);
  return *value;
}

template <class Options>
void OptimizerWithOptions<Options>::set(std::size_t group, std::string_view name, double value) {
  check_group(group);
  Options options = options_[group];
  if (!options.set(name, value))
    detail::throw_error("name = \"", name, "\" is not a numeric hyper-parameter of ",
                        Options::kOptimizer);
  set_options(group, std::move(options));
}

template <class Options>
HyperMap OptimizerWithOptions<Options>::group_options(std::size_t group) const {
  check_group(group);
  return detail::options_to_map(options_[group]);
}

template <class Options>
std::function<void()> OptimizerWithOptions<Options>::stage_options(
    const std::vector<GroupState>& groups) {
  std::vector<Options> staged;
  std::vector<detail::GroupConfig> configs;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::string where =
        std::string(Options::kOptimizer) + " param_groups[" + std::to_string(g) + "]";
    Options options = detail::options_from_map<Options>(groups[g].options, where);
    options.validate(where);
    configs.push_back(make_group_config(options));
    detail::check_same_state_layout(g, this->group_config(g), configs.back());
    staged.push_back(std::move(options));
  }
  return [this, staged = std::move(staged), configs = std::move(configs)]() {
    for (std::size_t g = 0; g < staged.size(); ++g) {
      this->update_group(g, configs[g]);
      options_[g] = staged[g];
    }
  };
}

template <class Options>
FusedOptimizer<Options>::FusedOptimizer(std::vector<Group> groups, Options defaults)
    : OptimizerWithOptions<Options>(std::move(groups), std::move(defaults)) {}

template <class Options>
FusedOptimizer<Options>::FusedOptimizer(std::vector<Param> params, Options defaults)
    : FusedOptimizer(std::vector<Group>{Group{std::move(params), std::nullopt}},
                     std::move(defaults)) {}

namespace detail {
template <class Options>
struct OptimizerTag {};
}  // namespace detail

// The functor-specific parts, found by ADL and defined by FUSEDOPT_DEFINE_OPTIMIZER below.
template <class Options>
void FusedOptimizer<Options>::launch(const detail::SegmentLaunch& segment) const {
  run_optimizer_step(detail::OptimizerTag<Options>{}, segment);
}

template <class Options>
void FusedOptimizer<Options>::check_built(const detail::SegmentLaunch& segment) const {
  detail::check_built(FUSEDOPT_BUILT_STORAGE, segment, Options::kOptimizer, FUSEDOPT_LIST_NAME);
}

template <class Options>
StepCost FusedOptimizer<Options>::segment_cost(const detail::SegmentLaunch& segment) const {
  return optimizer_step_cost(detail::OptimizerTag<Options>{}, segment);
}

template <class Options>
int FusedOptimizer<Options>::num_temps() const {
  return optimizer_num_temps(detail::OptimizerTag<Options>{});
}

/// In host/<optimizer>.cpp: binds Options to its functor `Op` and instantiates the optimizer.
#define FUSEDOPT_DEFINE_OPTIMIZER(Options, Op)                                                  \
  void run_optimizer_step(detail::OptimizerTag<Options>, const detail::SegmentLaunch& segment) { \
    detail::run_step<Op>(segment);                                                             \
  }                                                                                            \
  StepCost optimizer_step_cost(detail::OptimizerTag<Options>,                                  \
                               const detail::SegmentLaunch& segment) {                         \
    return detail::step_cost<Op>(segment);                                                     \
  }                                                                                            \
  int optimizer_num_temps(detail::OptimizerTag<Options>) { return Op::kNumTemps; }             \
  template class OptimizerWithOptions<Options>;                                                \
  template class FusedOptimizer<Options>

}  // namespace fusedopt
