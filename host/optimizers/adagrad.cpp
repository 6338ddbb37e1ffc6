#include "fusedopt/adagrad.hpp"

#include "kernels/optimizers/adagrad.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

detail::GroupConfig make_group_config(const AdagradOptions& o) {
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.num_states = 1;  // sum, filled with initial_accumulator_value at construction as torch
  config.state_init[0] = float(o.initial_accumulator_value());
  config.state_names = {"sum"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(AdagradOptions, kernels::AdagradOp);

}  // namespace fusedopt
