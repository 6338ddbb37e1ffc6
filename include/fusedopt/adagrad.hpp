#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_ADAGRAD_OPTIONS(OPTION, PAIR)                   \
  OPTION(double, lr, 1e-2, non_negative)                         \
  OPTION(double, lr_decay, 0.0, non_negative)                    \
  OPTION(double, weight_decay, 0.0, non_negative)                \
  OPTION(double, initial_accumulator_value, 0.0, non_negative)   \
  OPTION(double, eps, 1e-10, non_negative)                       \
  OPTION(bool, maximize, false, any)

/// torch.optim.Adagrad's options: FUSEDOPT_ADAGRAD_OPTIONS above.
class AdagradOptions {
  FUSEDOPT_DECLARE_OPTIONS(AdagradOptions, AdagradOptions, FUSEDOPT_ADAGRAD_OPTIONS)
  static constexpr const char* kOptimizer = "Adagrad";
};

/// The fused Adagrad step; see kernels/optimizers/adagrad.h for the exact update.
using Adagrad = FusedOptimizer<AdagradOptions>;
extern template class OptimizerWithOptions<AdagradOptions>;
extern template class FusedOptimizer<AdagradOptions>;

}  // namespace fusedopt
