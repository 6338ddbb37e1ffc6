#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.Adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False).
/// Numeric options for get/set: lr, beta1, beta2, eps, weight_decay.
class AdamaxOptions {
  FUSEDOPT_OPTION(AdamaxOptions, double, lr, 2e-3)
  FUSEDOPT_OPTION(AdamaxOptions, Betas, betas, kDefaultBetas)
  FUSEDOPT_OPTION(AdamaxOptions, double, eps, 1e-8)
  FUSEDOPT_OPTION(AdamaxOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(AdamaxOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(AdamaxOptions)
  static constexpr const char* kOptimizer = "Adamax";
  static auto fields() {
    using S = AdamaxOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"betas", &S::betas_, "beta1", "beta2"},
                           Field{"eps", &S::eps_},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused Adamax step; see kernels/optimizers/adamax.h for the exact update.
using Adamax = FusedOptimizer<AdamaxOptions>;
extern template class OptimizerWithOptions<AdamaxOptions>;
extern template class FusedOptimizer<AdamaxOptions>;

}  // namespace fusedopt
