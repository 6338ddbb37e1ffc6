#include "fusedopt/rmsprop.hpp"

#include "kernels/optimizers/rmsprop.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

void RMSpropOptions::validate(const std::string& where) const {
  detail::require_non_negative(where, "lr", lr());
  detail::require_unit_interval(where, "alpha", alpha());
  detail::require_non_negative(where, "eps", eps());
  detail::require_non_negative(where, "weight_decay", weight_decay());
  detail::require_non_negative(where, "momentum", momentum());
}

detail::GroupConfig make_group_config(const RMSpropOptions& o) {
  using Op = kernels::RMSpropOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kAlpha] = o.alpha();
  config.hyper[Op::kEps] = o.eps();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.hyper[Op::kMomentum] = o.momentum();
  const bool has_momentum = o.momentum() > 0.0;
  config.flags = (o.maximize() ? Op::kMaximize : 0u) | (o.centered() ? Op::kCentered : 0u) |
                 (has_momentum ? Op::kHasMomentum : 0u);
  // square_avg[, grad_avg][, momentum_buffer]
  config.num_states = 1 + (o.centered() ? 1 : 0) + (has_momentum ? 1 : 0);
  config.state_names = {"square_avg", o.centered() ? "grad_avg" : "momentum_buffer",
                        "momentum_buffer"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(RMSpropOptions, kernels::RMSpropOp);

}  // namespace fusedopt
