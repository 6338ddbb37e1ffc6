#include "fusedopt/asgd.hpp"

#include "kernels/optimizers/asgd.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const ASGDOptions& o) {
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.num_states = 1;  // ax (eta is per-parameter scalar state, mu follows the step count)
  config.state_names = {"ax"};
  config.param_state_name = "eta";
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(ASGDOptions, kernels::ASGDOp);

}  // namespace fusedopt
