#include "fusedopt/rmsprop.hpp"

#include "kernels/optimizers/rmsprop.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const RMSpropOptions& o) {
  using Op = kernels::RMSpropOp;
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  const bool has_momentum = o.momentum() > 0.0;
  config.flags = (o.centered() ? Op::kCentered : 0u) | (has_momentum ? Op::kHasMomentum : 0u);
  // square_avg[, grad_avg][, momentum_buffer]
  config.num_states = 1 + (o.centered() ? 1 : 0) + (has_momentum ? 1 : 0);
  config.state_names = {"square_avg", o.centered() ? "grad_avg" : "momentum_buffer",
                        "momentum_buffer"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(RMSpropOptions, kernels::RMSpropOp);

}  // namespace fusedopt
