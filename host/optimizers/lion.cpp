#include "fusedopt/lion.hpp"

#include "kernels/optimizers/lion.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const LionOptions& o) {
  using Op = kernels::LionOp;
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.flags = o.maximize() ? Op::kMaximize : 0u;
  config.num_states = 1;  // exp_avg
  config.state_names = {"exp_avg"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(LionOptions, kernels::LionOp);

}  // namespace fusedopt
