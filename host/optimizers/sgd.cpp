#include "fusedopt/sgd.hpp"

#include <cmath>

#include "kernels/optimizers/sgd.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

using detail::require;
using detail::require_non_negative;

void SGDOptions::validate(const std::string& where) const {
  require_non_negative(where, "lr", lr());
  require_non_negative(where, "momentum", momentum());
  require(std::isfinite(dampening()), where, "dampening", "finite", dampening());
  require_non_negative(where, "weight_decay", weight_decay());
  if (nesterov()) {
    require(momentum() > 0.0, where, "momentum", "> 0 when nesterov is true", momentum());
    require(dampening() == 0.0, where, "dampening", "0 when nesterov is true", dampening());
  }
}


detail::GroupConfig make_group_config(const SGDOptions& o) {
  using Op = kernels::SGDOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kMomentum] = o.momentum();
  config.hyper[Op::kDampening] = o.dampening();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  const bool has_momentum = o.momentum() != 0.0;
  config.flags = (o.maximize() ? Op::kMaximize : 0u) | (o.nesterov() ? Op::kNesterov : 0u) |
                 (has_momentum ? Op::kHasMomentum : 0u);
  config.num_states = has_momentum ? 1 : 0;  // momentum_buffer
  config.state_names = {"momentum_buffer"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(SGDOptions, kernels::SGDOp);

}  // namespace fusedopt
