#include "fusedopt/nadam.hpp"

#include "kernels/optimizers/nadam.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const NAdamOptions& o) {
  using Op = kernels::NAdamOp;
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.flags = o.decoupled_weight_decay() ? Op::kDecoupled : 0u;
  config.num_states = 2;  // exp_avg, exp_avg_sq (mu_product is per-parameter scalar state)
  config.state_names = {"exp_avg", "exp_avg_sq"};
  config.param_state_name = "mu_product";
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(NAdamOptions, kernels::NAdamOp);

}  // namespace fusedopt
