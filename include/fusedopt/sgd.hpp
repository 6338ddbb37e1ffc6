#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_SGD_OPTIONS(OPTION, PAIR)          \
  OPTION(double, lr, 1e-3, non_negative)            \
  OPTION(double, momentum, 0.0, non_negative)       \
  OPTION(double, dampening, 0.0, finite)            \
  OPTION(double, weight_decay, 0.0, non_negative)   \
  OPTION(bool, nesterov, false, any)                \
  OPTION(bool, maximize, false, any)

/// torch.optim.SGD's options: FUSEDOPT_SGD_OPTIONS above.
class SGDOptions {
  FUSEDOPT_DECLARE_OPTIONS(SGDOptions, SGDOptions, FUSEDOPT_SGD_OPTIONS)
  static constexpr const char* kOptimizer = "SGD";
  /// The rule between options (validate() calls it): nesterov needs momentum > 0 and
  /// dampening 0, as torch requires.
  void check(const std::string& where) const;
};

/// torch.optim.SGD: momentum (dampening, nesterov), L2 weight_decay, maximize.
///
///   fo::SGD opt(params, fo::SGDOptions().lr(0.1).momentum(0.9).nesterov(true));
using SGD = FusedOptimizer<SGDOptions>;
extern template class OptimizerWithOptions<SGDOptions>;
extern template class FusedOptimizer<SGDOptions>;

}  // namespace fusedopt
