#include "fusedopt/adadelta.hpp"

#include "kernels/optimizers/adadelta.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

void AdadeltaOptions::validate(const std::string& where) const {
  detail::require_non_negative(where, "lr", lr());
  detail::require_unit_interval(where, "rho", rho());
  detail::require_non_negative(where, "eps", eps());
  detail::require_non_negative(where, "weight_decay", weight_decay());
}

detail::GroupConfig make_group_config(const AdadeltaOptions& o) {
  using Op = kernels::AdadeltaOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kRho] = o.rho();
  config.hyper[Op::kEps] = o.eps();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.flags = o.maximize() ? Op::kMaximize : 0u;
  config.num_states = 2;  // square_avg, acc_delta
  config.state_names = {"square_avg", "acc_delta"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(AdadeltaOptions, kernels::AdadeltaOp);

}  // namespace fusedopt
