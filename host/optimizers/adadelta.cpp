#include "fusedopt/adadelta.hpp"

#include "kernels/optimizers/adadelta.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const AdadeltaOptions& o) {
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.num_states = 2;  // square_avg, acc_delta
  config.state_names = {"square_avg", "acc_delta"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(AdadeltaOptions, kernels::AdadeltaOp);

}  // namespace fusedopt
