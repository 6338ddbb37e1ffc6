#include "fusedopt/asgd.hpp"

#include <cmath>

#include "kernels/optimizers/asgd.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

void ASGDOptions::validate(const std::string& where) const {
  detail::require_non_negative(where, "lr", lr());
  detail::require_non_negative(where, "lambd", lambd());
  detail::require(std::isfinite(alpha()), where, "alpha", "finite", alpha());
  detail::require_non_negative(where, "t0", t0());
  detail::require_non_negative(where, "weight_decay", weight_decay());
}

detail::GroupConfig make_group_config(const ASGDOptions& o) {
  using Op = kernels::ASGDOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kLambd] = o.lambd();
  config.hyper[Op::kAlpha] = o.alpha();
  config.hyper[Op::kT0] = o.t0();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.flags = o.maximize() ? Op::kMaximize : 0u;
  config.num_states = 1;  // ax (eta is per-parameter scalar state, mu follows the step count)
  config.state_names = {"ax"};
  config.param_state_name = "eta";
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(ASGDOptions, kernels::ASGDOp);

}  // namespace fusedopt
