#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.Adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
/// eps=1e-10, maximize=False).
/// Numeric options for get/set: lr, lr_decay, weight_decay, initial_accumulator_value, eps.
class AdagradOptions {
  FUSEDOPT_OPTION(AdagradOptions, double, lr, 1e-2)
  FUSEDOPT_OPTION(AdagradOptions, double, lr_decay, 0.0)
  FUSEDOPT_OPTION(AdagradOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(AdagradOptions, double, initial_accumulator_value, 0.0)
  FUSEDOPT_OPTION(AdagradOptions, double, eps, 1e-10)
  FUSEDOPT_OPTION(AdagradOptions, bool, maximize, false)
  FUSEDOPT_OPTIONS_COMMON(AdagradOptions)
  static constexpr const char* kOptimizer = "Adagrad";
  static auto fields() {
    using S = AdagradOptions;
    return std::make_tuple(Field{"lr", &S::lr_},
                           Field{"lr_decay", &S::lr_decay_},
                           Field{"weight_decay", &S::weight_decay_},
                           Field{"initial_accumulator_value", &S::initial_accumulator_value_},
                           Field{"eps", &S::eps_},
                           Field{"maximize", &S::maximize_});
  }
};

/// The fused Adagrad step; see kernels/optimizers/adagrad.h for the exact update.
using Adagrad = FusedOptimizer<AdagradOptions>;
extern template class OptimizerWithOptions<AdagradOptions>;
extern template class FusedOptimizer<AdagradOptions>;

}  // namespace fusedopt
