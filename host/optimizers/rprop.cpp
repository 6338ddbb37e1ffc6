#include "fusedopt/rprop.hpp"

#include "kernels/optimizers/rprop.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const RpropOptions& o) {
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.num_states = 2;  // prev, step_size (set at the first step)
  config.state_names = {"prev", "step_size"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(RpropOptions, kernels::RpropOp);

}  // namespace fusedopt
