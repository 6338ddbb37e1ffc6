#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// (eta_minus, eta_plus) and (step_size_min, step_size_max) of Rprop.
inline constexpr Pair kDefaultEtas{0.5, 1.2};
inline constexpr Pair kDefaultStepSizes{1e-6, 50.0};

#define FUSEDOPT_RPROP_OPTIONS(OPTION, PAIR)                                                        \
  OPTION(double, lr, 1e-2, non_negative)                                                            \
  PAIR(etas, kDefaultEtas, eta_minus, open_unit, eta_plus, above_one)                               \
  PAIR(step_sizes, kDefaultStepSizes, step_size_min, non_negative, step_size_max, at_least_first)   \
  OPTION(bool, maximize, false, any)

/// torch.optim.Rprop's options: FUSEDOPT_RPROP_OPTIONS above. As torch: 0 < eta_minus < 1 <
/// eta_plus (the kernel relies on eta_minus != 1 to find sign flips).
class RpropOptions {
  FUSEDOPT_DECLARE_OPTIONS(RpropOptions, RpropOptions, FUSEDOPT_RPROP_OPTIONS)
  static constexpr const char* kOptimizer = "Rprop";
};

/// The fused Rprop step; see kernels/optimizers/rprop.h for the exact update.
using Rprop = FusedOptimizer<RpropOptions>;
extern template class OptimizerWithOptions<RpropOptions>;
extern template class FusedOptimizer<RpropOptions>;

}  // namespace fusedopt
