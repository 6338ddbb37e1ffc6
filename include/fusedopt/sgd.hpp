#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// torch.optim.SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
/// maximize=False).
class SGDOptions {
  FUSEDOPT_OPTION(SGDOptions, double, lr, 1e-3)
  FUSEDOPT_OPTION(SGDOptions, double, momentum, 0.0)
  FUSEDOPT_OPTION(SGDOptions, double, dampening, 0.0)
  FUSEDOPT_OPTION(SGDOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(SGDOptions, bool, nesterov, false)
  FUSEDOPT_OPTION(SGDOptions, bool, maximize, false)
 FUSEDOPT_OPTIONS_COMMON(SGDOptions)
  static constexpr const char* kOptimizer = "SGD";
  static auto fields() {
    using S = SGDOptions;
    return std::make_tuple(Field{"lr", &S::lr_}, Field{"momentum", &S::momentum_},
                           Field{"dampening", &S::dampening_},
                           Field{"weight_decay", &S::weight_decay_}, Field{"nesterov", &S::nesterov_},
                           Field{"maximize", &S::maximize_});
  }
};

/// torch.optim.SGD: momentum (dampening, nesterov), L2 weight_decay, maximize.
///
///   fo::SGD opt(params, fo::SGDOptions().lr(0.1).momentum(0.9).nesterov(true));
using SGD = FusedOptimizer<SGDOptions>;
extern template class OptimizerWithOptions<SGDOptions>;
extern template class FusedOptimizer<SGDOptions>;

}  // namespace fusedopt
