#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_NADAM_OPTIONS(OPTION, PAIR)             \
  OPTION(double, lr, 2e-3, non_negative)                 \
  PAIR(betas, kDefaultBetas, beta1, beta, beta2, beta)   \
  OPTION(double, eps, 1e-8, non_negative)                \
  OPTION(double, weight_decay, 0.0, non_negative)        \
  OPTION(double, momentum_decay, 4e-3, non_negative)     \
  OPTION(bool, decoupled_weight_decay, false, any)       \
  OPTION(bool, maximize, false, any)

/// torch.optim.NAdam's options: FUSEDOPT_NADAM_OPTIONS above.
class NAdamOptions {
  FUSEDOPT_DECLARE_OPTIONS(NAdamOptions, NAdamOptions, FUSEDOPT_NADAM_OPTIONS)
  static constexpr const char* kOptimizer = "NAdam";
};

/// The fused NAdam step; see kernels/optimizers/nadam.h for the exact update.
using NAdam = FusedOptimizer<NAdamOptions>;
extern template class OptimizerWithOptions<NAdamOptions>;
extern template class FusedOptimizer<NAdamOptions>;

}  // namespace fusedopt
