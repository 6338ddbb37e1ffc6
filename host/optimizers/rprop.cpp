#include "fusedopt/rprop.hpp"

#include <cmath>

#include "kernels/optimizers/rprop.h"
#include "host/optimizers/optimizer_with_options.hpp"

namespace fusedopt {

void RpropOptions::validate(const std::string& where) const {
  detail::require_non_negative(where, "lr", lr());
  const auto [eta_minus, eta_plus] = etas();
  // torch: 0 < eta_minus < 1 < eta_plus (the kernel relies on eta_minus != 1 to find sign flips).
  detail::require(eta_minus > 0.0 && eta_minus < 1.0, where, "etas.first (eta_minus)",
                  "in (0, 1)", eta_minus);
  detail::require(std::isfinite(eta_plus) && eta_plus > 1.0, where, "etas.second (eta_plus)",
                  "finite and > 1", eta_plus);
  const auto [step_size_min, step_size_max] = step_sizes();
  detail::require_non_negative(where, "step_sizes.first (step_size_min)", step_size_min);
  detail::require(std::isfinite(step_size_max) && step_size_max >= step_size_min, where,
                  "step_sizes.second (step_size_max)", ">= step_size_min and finite",
                  step_size_max);
}

detail::GroupConfig make_group_config(const RpropOptions& o) {
  using Op = kernels::RpropOp;
  detail::GroupConfig config;
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kEtaMinus] = o.etas().first;
  config.hyper[Op::kEtaPlus] = o.etas().second;
  config.hyper[Op::kStepSizeMin] = o.step_sizes().first;
  config.hyper[Op::kStepSizeMax] = o.step_sizes().second;
  config.flags = o.maximize() ? Op::kMaximize : 0u;
  config.num_states = 2;  // prev, step_size (set at the first step)
  config.state_names = {"prev", "step_size"};
  return config;
}

FUSEDOPT_DEFINE_OPTIMIZER(RpropOptions, kernels::RpropOp);

}  // namespace fusedopt
