#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

inline constexpr Betas kDefaultLionBetas{0.9, 0.99};

/// Lion (Chen et al. 2023): lr=1e-4, betas=(0.9, 0.99), weight_decay=0 (decoupled),
/// maximize=False. Not in torch.optim; defaults follow the paper's reference code.
/// Numeric options for get/set: lr, beta1, beta2, weight_decay.
class LionOptions {
  FUSEDOPT_OPTION(LionOptions, double, lr, 1e-4)
  FUSEDOPT_OPTION(LionOptions, Betas, betas, kDefaultLionBetas)
  FUSEDOPT_OPTION(LionOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(LionOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(LionOptions)
  static constexpr const char* kOptimizer = "Lion";
  static auto fields() {
    using S = LionOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"betas", &S::betas_, "beta1", "beta2"},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused Lion step; see kernels/optimizers/lion.h for the exact update.
using Lion = FusedOptimizer<LionOptions>;
extern template class OptimizerWithOptions<LionOptions>;
extern template class FusedOptimizer<LionOptions>;

}  // namespace fusedopt
