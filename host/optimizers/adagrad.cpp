#include "fusedopt/adagrad.hpp"

#include "kernels/optimizers/adagrad.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

void AdagradOptions::validate(const std::string& where) const {
  detail::require_non_negative(where, "lr", lr());
  detail::require_non_negative(where, "lr_decay", lr_decay());
  detail::require_non_negative(where, "weight_decay", weight_decay());
  detail::require_non_negative(where, "initial_accumulator_value", initial_accumulator_value());
  detail::require_non_negative(where, "eps", eps());
}

detail::GroupConfig make_group_config(const AdagradOptions& o) {
  using Op = kernels::AdagradOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kLrDecay] = o.lr_decay();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.hyper[Op::kInitialAccumulatorValue] = o.initial_accumulator_value();
  config.hyper[Op::kEps] = o.eps();
  config.flags = o.maximize() ? Op::kMaximize : 0u;
  config.num_states = 1;  // sum, filled with initial_accumulator_value at construction as torch
  config.state_init[0] = float(o.initial_accumulator_value());
  config.state_names = {"sum"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(AdagradOptions, kernels::AdagradOp);

}  // namespace fusedopt
