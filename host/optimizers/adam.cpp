#include "fusedopt/adam.hpp"

#include "kernels/optimizers/adam.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

template class AdamFamilyOptions<AdamOptions>;
template class AdamFamilyOptions<AdamWOptions>;

namespace {
template <class Options>
detail::GroupConfig adam_config(const Options& o) {
  using Op = kernels::AdamStepOp;  // Adam and AdamW share slots and flags
  detail::GroupConfig config;
  detail::set_slots(config, o);  // NOTE(slots)
  config.flags = o.amsgrad() ? Op::kAmsgrad : 0u;
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
