#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_RADAM_OPTIONS(OPTION, PAIR)             \
  OPTION(double, lr, 1e-3, non_negative)                 \
  PAIR(betas, kDefaultBetas, beta1, beta, beta2, beta)   \
  OPTION(double, eps, 1e-8, non_negative)                \
  OPTION(double, weight_decay, 0.0, non_negative)        \
  OPTION(bool, decoupled_weight_decay, false, any)       \
  OPTION(bool, maximize, false, any)

/// torch.optim.RAdam's options: FUSEDOPT_RADAM_OPTIONS above.
class RAdamOptions {
  FUSEDOPT_DECLARE_OPTIONS(RAdamOptions, RAdamOptions, FUSEDOPT_RADAM_OPTIONS)
  static constexpr const char* kOptimizer = "RAdam";
};

/// The fused RAdam step; see kernels/optimizers/radam.h for the exact update.
using RAdam = FusedOptimizer<RAdamOptions>;
extern template class OptimizerWithOptions<RAdamOptions>;
extern template class FusedOptimizer<RAdamOptions>;

}  // namespace fusedopt
