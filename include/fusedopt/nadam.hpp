#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.NAdam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
/// momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False).
/// Numeric options for get/set: lr, beta1, beta2, eps, weight_decay, momentum_decay.
class NAdamOptions {
  FUSEDOPT_OPTION(NAdamOptions, double, lr, 2e-3)
  FUSEDOPT_OPTION(NAdamOptions, Betas, betas, kDefaultBetas)
  FUSEDOPT_OPTION(NAdamOptions, double, eps, 1e-8)
  FUSEDOPT_OPTION(NAdamOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(NAdamOptions, double, momentum_decay, 4e-3)
  FUSEDOPT_OPTION(NAdamOptions, bool, decoupled_weight_decay, false)
  FUSEDOPT_OPTION(NAdamOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(NAdamOptions)
  static constexpr const char* kOptimizer = "NAdam";
  static auto fields() {
    using S = NAdamOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"betas", &S::betas_, "beta1", "beta2"},
                           Field{"eps", &S::eps_},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"momentum_decay", &S::momentum_decay_},
                           Field{"decoupled_weight_decay", &S::decoupled_weight_decay_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused NAdam step; see kernels/optimizers/nadam.h for the exact update.
using NAdam = FusedOptimizer<NAdamOptions>;
extern template class OptimizerWithOptions<NAdamOptions>;
extern template class FusedOptimizer<NAdamOptions>;

}  // namespace fusedopt
