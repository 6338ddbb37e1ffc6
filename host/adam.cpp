#include "fusedopt/adam.hpp"

#include <cmath>

#include "kernels/adam.h"
#include "optimizer_with_options.hpp"

namespace fusedopt {

using detail::require;
using detail::require_non_negative;

template <class Self>
void AdamFamilyOptions<Self>::validate(const std::string& where) const {
  require_non_negative(where, "lr", lr());
  detail::require_betas(where, betas());
  require_non_negative(where, "eps", eps());
  require_non_negative(where, "weight_decay", weight_decay());
}

template class AdamFamilyOptions<AdamOptions>;
template class AdamFamilyOptions<AdamWOptions>;


namespace {
template <class Options>
detail::GroupConfig adam_config(const Options& o) {
  using Op = kernels::AdamStepOp;  // Adam and AdamW share slots and flags
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kBeta1] = o.betas().first;
  config.hyper[Op::kBeta2] = o.betas().second;
  config.hyper[Op::kEps] = o.eps();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
  config.flags = (o.maximize() ? Op::kMaximize : 0u) | (o.amsgrad() ? Op::kAmsgrad : 0u);
  config.num_states = o.amsgrad() ? 3 : 2;  // exp_avg, exp_avg_sq[, max_exp_avg_sq]
  config.state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return config;
}
}  // namespace
detail::GroupConfig make_group_config(const AdamOptions& o) { return adam_config(o); }
detail::GroupConfig make_group_config(const AdamWOptions& o) { return adam_config(o); }

FUSEDOPT_DEFINE_OPTIMIZER(AdamOptions, kernels::AdamStepOp);
FUSEDOPT_DEFINE_OPTIMIZER(AdamWOptions, kernels::AdamWStepOp);

}  // namespace fusedopt
