#include "fusedopt/lion.hpp"

#include "kernels/optimizers/lion.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const LionOptions& o) {
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.num_states = 1;  // exp_avg
  config.state_names = {"exp_avg"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(LionOptions, kernels::LionOp);

}  // namespace fusedopt
