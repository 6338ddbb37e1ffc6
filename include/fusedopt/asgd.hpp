#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_ASGD_OPTIONS(OPTION, PAIR)         \
  OPTION(double, lr, 1e-2, non_negative)            \
  OPTION(double, lambd, 1e-4, non_negative)         \
  OPTION(double, alpha, 0.75, finite)               \
  OPTION(double, t0, 1e6, non_negative)             \
  OPTION(double, weight_decay, 0.0, non_negative)   \
  OPTION(bool, maximize, false, any)

/// torch.optim.ASGD's options: FUSEDOPT_ASGD_OPTIONS above.
class ASGDOptions {
  FUSEDOPT_DECLARE_OPTIONS(ASGDOptions, ASGDOptions, FUSEDOPT_ASGD_OPTIONS)
  static constexpr const char* kOptimizer = "ASGD";
};

/// The fused ASGD step; see kernels/optimizers/asgd.h for the exact update.
using ASGD = FusedOptimizer<ASGDOptions>;
extern template class OptimizerWithOptions<ASGDOptions>;
extern template class FusedOptimizer<ASGDOptions>;

}  // namespace fusedopt
