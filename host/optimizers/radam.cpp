#include "fusedopt/radam.hpp"

#include "kernels/optimizers/radam.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const RAdamOptions& o) {
  using Op = kernels::RAdamOp;
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.flags = o.decoupled_weight_decay() ? Op::kDecoupled : 0u;
  config.num_states = 2;  // exp_avg, exp_avg_sq
  config.state_names = {"exp_avg", "exp_avg_sq"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(RAdamOptions, kernels::RAdamOp);

}  // namespace fusedopt
