#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// (eta_minus, eta_plus) and (step_size_min, step_size_max) of Rprop.
inline constexpr Pair kDefaultEtas{0.5, 1.2};
inline constexpr Pair kDefaultStepSizes{1e-6, 50.0};

/// torch.optim.Rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False).
/// Numeric options for get/set: lr, eta_minus, eta_plus, step_size_min, step_size_max.
class RpropOptions {
  FUSEDOPT_OPTION(RpropOptions, double, lr, 1e-2)
  FUSEDOPT_OPTION(RpropOptions, Pair, etas, kDefaultEtas)
  FUSEDOPT_OPTION(RpropOptions, Pair, step_sizes, kDefaultStepSizes)
  FUSEDOPT_OPTION(RpropOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(RpropOptions)
  static constexpr const char* kOptimizer = "Rprop";
  static auto fields() {
    using S = RpropOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"etas", &S::etas_, "eta_minus", "eta_plus"},
                           Field{"step_sizes", &S::step_sizes_, "step_size_min", "step_size_max"},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused Rprop step; see kernels/optimizers/rprop.h for the exact update.
using Rprop = FusedOptimizer<RpropOptions>;
extern template class OptimizerWithOptions<RpropOptions>;
extern template class FusedOptimizer<RpropOptions>;

}  // namespace fusedopt
