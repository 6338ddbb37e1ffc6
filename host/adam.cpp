#include "fusedopt/adam.hpp"

#include <cmath>

#include "executor.hpp"
#include "kernels/adam.h"
#include "optimizer_with_options.hpp"

namespace fusedopt {

using detail::require;
using detail::require_non_negative;

template <class Self>
void AdamFamilyOptions<Self>::validate(const std::string& where) const {
  require_non_negative(where, "lr", lr());
  const auto [beta1, beta2] = betas();
  require(beta1 >= 0.0 && beta1 < 1.0, where, "betas.first (beta1)", "in [0, 1)", beta1);
  require(beta2 >= 0.0 && beta2 < 1.0, where, "betas.second (beta2)", "in [0, 1)", beta2);
  require_non_negative(where, "eps", eps());
  require_non_negative(where, "weight_decay", weight_decay());
}

template class AdamFamilyOptions<AdamOptions>;
template class AdamFamilyOptions<AdamWOptions>;


namespace {
template <class Options>
detail::GroupConfig adam_config(const Options& o) {
  using Op = kernels::AdamStepOp;  // Adam and AdamW share slots and flags
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kBeta1] = o.betas().first;
  config.hyper[Op::kBeta2] = o.betas().second;
  config.hyper[Op::kEps] = o.eps();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.flags = (o.maximize() ? Op::kMaximize : 0u) | (o.amsgrad() ? Op::kAmsgrad : 0u);
  config.num_states = o.amsgrad() ? 3 : 2;  // exp_avg, exp_avg_sq[, max_exp_avg_sq]
  return config;
}
}  // namespace
detail::GroupConfig make_group_config(const AdamOptions& o) { return adam_config(o); }
detail::GroupConfig make_group_config(const AdamWOptions& o) { return adam_config(o); }

template class OptimizerWithOptions<AdamOptions>;
template class OptimizerWithOptions<AdamWOptions>;

Adam::Adam(std::vector<Group> groups, AdamOptions defaults)
    : OptimizerWithOptions(std::move(groups), std::move(defaults)) {}
Adam::Adam(std::vector<Param> params, AdamOptions defaults)
    : Adam(std::vector<Group>{Group{std::move(params), std::nullopt}}, std::move(defaults)) {}
void Adam::launch(const detail::SegmentLaunch& segment) const {
  detail::run_step<kernels::AdamStepOp>(segment);
}

AdamW::AdamW(std::vector<Group> groups, AdamWOptions defaults)
    : OptimizerWithOptions(std::move(groups), std::move(defaults)) {}
AdamW::AdamW(std::vector<Param> params, AdamWOptions defaults)
    : AdamW(std::vector<Group>{Group{std::move(params), std::nullopt}}, std::move(defaults)) {}
void AdamW::launch(const detail::SegmentLaunch& segment) const {
  detail::run_step<kernels::AdamWStepOp>(segment);
}

}  // namespace fusedopt
