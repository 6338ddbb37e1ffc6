#include "fusedopt/sgd.hpp"

#include "kernels/optimizers/sgd.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

void SGDOptions::check(const std::string& where) const {
  if (!nesterov()) return;
  detail::require(momentum() > 0.0, where, "momentum", "> 0 when nesterov is true", momentum());
  detail::require(dampening() == 0.0, where, "dampening", "0 when nesterov is true", dampening());
}

detail::GroupConfig make_group_config(const SGDOptions& o) {
  using Op = kernels::SGDOp;
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  const bool has_momentum = o.momentum() != 0.0;
  config.flags = (o.nesterov() ? Op::kNesterov : 0u) | (has_momentum ? Op::kHasMomentum : 0u);
  config.num_states = has_momentum ? 1 : 0;  // momentum_buffer
  config.state_names = {"momentum_buffer"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(SGDOptions, kernels::SGDOp);

}  // namespace fusedopt
