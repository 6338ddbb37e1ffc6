#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.RAdam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
/// decoupled_weight_decay=False, maximize=False).
/// Numeric options for get/set: lr, beta1, beta2, eps, weight_decay.
class RAdamOptions {
  FUSEDOPT_OPTION(RAdamOptions, double, lr, 1e-3)
  FUSEDOPT_OPTION(RAdamOptions, Betas, betas, kDefaultBetas)
  FUSEDOPT_OPTION(RAdamOptions, double, eps, 1e-8)
  FUSEDOPT_OPTION(RAdamOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(RAdamOptions, bool, decoupled_weight_decay, false)
  FUSEDOPT_OPTION(RAdamOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(RAdamOptions)
  static constexpr const char* kOptimizer = "RAdam";
  static auto fields() {
    using S = RAdamOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"betas", &S::betas_, "beta1", "beta2"},
                           Field{"eps", &S::eps_},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"decoupled_weight_decay", &S::decoupled_weight_decay_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused RAdam step; see kernels/optimizers/radam.h for the exact update.
using RAdam = FusedOptimizer<RAdamOptions>;
extern template class OptimizerWithOptions<RAdamOptions>;
extern template class FusedOptimizer<RAdamOptions>;

}  // namespace fusedopt
