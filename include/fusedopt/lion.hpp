#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

inline constexpr Betas kDefaultLionBetas{0.9, 0.99};

#define FUSEDOPT_LION_OPTIONS(OPTION, PAIR)                                    \
  OPTION(double, lr, 1e-4, non_negative)                                       \
  PAIR(betas, kDefaultLionBetas, beta1, unit_interval, beta2, unit_interval)   \
  OPTION(double, weight_decay, 0.0, non_negative)                              \
  OPTION(bool, maximize, false, any)

/// Lion (Chen et al. 2023), weight decay decoupled: FUSEDOPT_LION_OPTIONS above. Not in
/// torch.optim; the defaults follow the paper's reference code.
class LionOptions {
  FUSEDOPT_DECLARE_OPTIONS(LionOptions, LionOptions, FUSEDOPT_LION_OPTIONS)
  static constexpr const char* kOptimizer = "Lion";
};

/// The fused Lion step; see kernels/optimizers/lion.h for the exact update.
using Lion = FusedOptimizer<LionOptions>;
extern template class OptimizerWithOptions<LionOptions>;
extern template class FusedOptimizer<LionOptions>;

}  // namespace fusedopt
