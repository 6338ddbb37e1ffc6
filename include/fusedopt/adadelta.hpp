#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_ADADELTA_OPTIONS(OPTION, PAIR)     \
  OPTION(double, lr, 1.0, non_negative)             \
  OPTION(double, rho, 0.9, unit_interval)           \
  OPTION(double, eps, 1e-6, non_negative)           \
  OPTION(double, weight_decay, 0.0, non_negative)   \
  OPTION(bool, maximize, false, any)

/// torch.optim.Adadelta's options: FUSEDOPT_ADADELTA_OPTIONS above.
class AdadeltaOptions {
  FUSEDOPT_DECLARE_OPTIONS(AdadeltaOptions, AdadeltaOptions, FUSEDOPT_ADADELTA_OPTIONS)
  static constexpr const char* kOptimizer = "Adadelta";
};

/// The fused Adadelta step; see kernels/optimizers/adadelta.h for the exact update.
using Adadelta = FusedOptimizer<AdadeltaOptions>;
extern template class OptimizerWithOptions<AdadeltaOptions>;
extern template class FusedOptimizer<AdadeltaOptions>;

}  // namespace fusedopt
