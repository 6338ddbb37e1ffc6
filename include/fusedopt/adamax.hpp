#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_ADAMAX_OPTIONS(OPTION, PAIR)            \
  OPTION(double, lr, 2e-3, non_negative)                 \
  PAIR(betas, kDefaultBetas, beta1, beta, beta2, beta)   \
  OPTION(double, eps, 1e-8, non_negative)                \
  OPTION(double, weight_decay, 0.0, non_negative)        \
  OPTION(bool, maximize, false, any)

/// torch.optim.Adamax's options: FUSEDOPT_ADAMAX_OPTIONS above.
class AdamaxOptions {
  FUSEDOPT_DECLARE_OPTIONS(AdamaxOptions, AdamaxOptions, FUSEDOPT_ADAMAX_OPTIONS)
  static constexpr const char* kOptimizer = "Adamax";
};

/// The fused Adamax step; see kernels/optimizers/adamax.h for the exact update.
using Adamax = FusedOptimizer<AdamaxOptions>;
extern template class OptimizerWithOptions<AdamaxOptions>;
extern template class FusedOptimizer<AdamaxOptions>;

}  // namespace fusedopt
