#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.Adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False).
/// Numeric options for get/set: lr, rho, eps, weight_decay.
class AdadeltaOptions {
  FUSEDOPT_OPTION(AdadeltaOptions, double, lr, 1.0)
  FUSEDOPT_OPTION(AdadeltaOptions, double, rho, 0.9)
  FUSEDOPT_OPTION(AdadeltaOptions, double, eps, 1e-6)
  FUSEDOPT_OPTION(AdadeltaOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(AdadeltaOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(AdadeltaOptions)
  static constexpr const char* kOptimizer = "Adadelta";
  static auto fields() {
    using S = AdadeltaOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"rho", &S::rho_},
                           Field{"eps", &S::eps_},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused Adadelta step; see kernels/optimizers/adadelta.h for the exact update.
using Adadelta = FusedOptimizer<AdadeltaOptions>;
extern template class OptimizerWithOptions<AdadeltaOptions>;
extern template class FusedOptimizer<AdadeltaOptions>;

}  // namespace fusedopt
