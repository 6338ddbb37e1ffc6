#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.ASGD(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, maximize=False).
/// Numeric options for get/set: lr, lambd, alpha, t0, weight_decay.
class ASGDOptions {
  FUSEDOPT_OPTION(ASGDOptions, double, lr, 1e-2)
  FUSEDOPT_OPTION(ASGDOptions, double, lambd, 1e-4)
  FUSEDOPT_OPTION(ASGDOptions, double, alpha, 0.75)
  FUSEDOPT_OPTION(ASGDOptions, double, t0, 1e6)
  FUSEDOPT_OPTION(ASGDOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(ASGDOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(ASGDOptions)
  static constexpr const char* kOptimizer = "ASGD";
  static auto fields() {
    using S = ASGDOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"lambd", &S::lambd_},
                           Field{"alpha", &S::alpha_},
                           Field{"t0", &S::t0_},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused ASGD step; see kernels/optimizers/asgd.h for the exact update.
using ASGD = FusedOptimizer<ASGDOptions>;
extern template class OptimizerWithOptions<ASGDOptions>;
extern template class FusedOptimizer<ASGDOptions>;

}  // namespace fusedopt
