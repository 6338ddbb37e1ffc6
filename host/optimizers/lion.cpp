#include "fusedopt/lion.hpp"

#include "kernels/optimizers/lion.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

void LionOptions::validate(const std::string& where) const {
  detail::require_non_negative(where, "lr", lr());
  detail::require_unit_interval(where, "betas.first (beta1)", betas().first);
  detail::require_unit_interval(where, "betas.second (beta2)", betas().second);
  detail::require_non_negative(where, "weight_decay", weight_decay());
}

detail::GroupConfig make_group_config(const LionOptions& o) {
  using Op = kernels::LionOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kBeta1] = o.betas().first;
  config.hyper[Op::kBeta2] = o.betas().second;
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.flags = o.maximize() ? Op::kMaximize : 0u;
  config.num_states = 1;  // exp_avg
  config.state_names = {"exp_avg"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(LionOptions, kernels::LionOp);

}  // namespace fusedopt
