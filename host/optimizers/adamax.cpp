#include "fusedopt/adamax.hpp"

#include "kernels/optimizers/adamax.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const AdamaxOptions& o) {
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.num_states = 2;  // exp_avg, exp_inf
  config.state_names = {"exp_avg", "exp_inf"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(AdamaxOptions, kernels::AdamaxOp);

}  // namespace fusedopt
