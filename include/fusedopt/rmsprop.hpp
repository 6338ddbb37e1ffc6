#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_RMSPROP_OPTIONS(OPTION, PAIR)      \
  OPTION(double, lr, 1e-2, non_negative)            \
  OPTION(double, alpha, 0.99, unit_interval)        \
  OPTION(double, eps, 1e-8, non_negative)           \
  OPTION(double, weight_decay, 0.0, non_negative)   \
  OPTION(double, momentum, 0.0, non_negative)       \
  OPTION(bool, centered, false, any)                \
  OPTION(bool, maximize, false, any)

/// torch.optim.RMSprop's options: FUSEDOPT_RMSPROP_OPTIONS above.
class RMSpropOptions {
  FUSEDOPT_DECLARE_OPTIONS(RMSpropOptions, RMSpropOptions, FUSEDOPT_RMSPROP_OPTIONS)
  static constexpr const char* kOptimizer = "RMSprop";
};

/// The fused RMSprop step; see kernels/optimizers/rmsprop.h for the exact update.
using RMSprop = FusedOptimizer<RMSpropOptions>;
extern template class OptimizerWithOptions<RMSpropOptions>;
extern template class FusedOptimizer<RMSpropOptions>;

}  // namespace fusedopt
