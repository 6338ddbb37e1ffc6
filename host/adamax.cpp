#include "fusedopt/adamax.hpp"

#include "kernels/adamax.h"
#include "optimizer_with_options.hpp"

namespace fusedopt {

void AdamaxOptions::validate(const std::string& where) const {
  detail::require_non_negative(where, "lr", lr());
  detail::require_betas(where, betas());
  detail::require_non_negative(where, "eps", eps());
  detail::require_non_negative(where, "weight_decay", weight_decay());
}

detail::GroupConfig make_group_config(const AdamaxOptions& o) {
  using Op = kernels::AdamaxOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kBeta1] = o.betas().first;
  config.hyper[Op::kBeta2] = o.betas().second;
  config.hyper[Op::kEps] = o.eps();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.flags = o.maximize() ? Op::kMaximize : 0u;
  config.num_states = 2;  // exp_avg, exp_inf
  config.state_names = {"exp_avg", "exp_inf"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(AdamaxOptions, kernels::AdamaxOp);

}  // namespace fusedopt
