#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
/// centered=False, maximize=False).
/// Numeric options for get/set: lr, alpha, eps, weight_decay, momentum.
class RMSpropOptions {
  FUSEDOPT_OPTION(RMSpropOptions, double, lr, 1e-2)
  FUSEDOPT_OPTION(RMSpropOptions, double, alpha, 0.99)
  FUSEDOPT_OPTION(RMSpropOptions, double, eps, 1e-8)
  FUSEDOPT_OPTION(RMSpropOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(RMSpropOptions, double, momentum, 0.0)
  FUSEDOPT_OPTION(RMSpropOptions, bool, centered, false)
  FUSEDOPT_OPTION(RMSpropOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(RMSpropOptions)
  static constexpr const char* kOptimizer = "RMSprop";
  static auto fields() {
    using S = RMSpropOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"alpha", &S::alpha_},
                           Field{"eps", &S::eps_},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"momentum", &S::momentum_},
                           Field{"centered", &S::centered_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused RMSprop step; see kernels/optimizers/rmsprop.h for the exact update.
using RMSprop = FusedOptimizer<RMSpropOptions>;
extern template class OptimizerWithOptions<RMSpropOptions>;
extern template class FusedOptimizer<RMSpropOptions>;

}  // namespace fusedopt
