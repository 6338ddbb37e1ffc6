#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// Shared by Adam and AdamW: they differ only in the default weight_decay and in how weight
/// decay is applied (L2 in the gradient vs decoupled).
template <class Self>
class AdamFamilyOptions {
  FUSEDOPT_OPTION(Self, double, lr, 1e-3)
  FUSEDOPT_OPTION(Self, Betas, betas, kDefaultBetas)
  FUSEDOPT_OPTION(Self, double, eps, 1e-8)
  FUSEDOPT_OPTION(Self, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(Self, bool, amsgrad, false)
  FUSEDOPT_OPTION(Self, bool, maximize, false)
 FUSEDOPT_OPTIONS_COMMON(Self)
  static auto fields() {
    using S = AdamFamilyOptions;
    return std::make_tuple(Field{"lr", &S::lr_}, Field{"betas", &S::betas_, "beta1", "beta2"},
                           Field{"eps", &S::eps_}, Field{"weight_decay", &S::weight_decay_},
                           Field{"amsgrad", &S::amsgrad_}, Field{"maximize", &S::maximize_});
  }

 protected:
  explicit AdamFamilyOptions(double default_weight_decay) { weight_decay_ = default_weight_decay; }
};

/// torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
/// maximize=False). weight_decay is an L2 term added to the gradient.
class AdamOptions : public AdamFamilyOptions<AdamOptions> {
 public:
  static constexpr const char* kOptimizer = "Adam";
  AdamOptions() : AdamFamilyOptions(0.0) {}
};

/// torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
/// amsgrad=False, maximize=False). weight_decay is decoupled: p *= 1 - lr * weight_decay.
class AdamWOptions : public AdamFamilyOptions<AdamWOptions> {
 public:
  static constexpr const char* kOptimizer = "AdamW";
  AdamWOptions() : AdamFamilyOptions(1e-2) {}
};

extern template class AdamFamilyOptions<AdamOptions>;
extern template class AdamFamilyOptions<AdamWOptions>;


/// torch.optim.Adam: amsgrad, maximize, L2 weight_decay (added to the gradient).
using Adam = FusedOptimizer<AdamOptions>;

/// torch.optim.AdamW: as Adam, with decoupled weight decay (p *= 1 - lr * weight_decay).
///
///   fo::AdamW opt({{backbone}, {head, fo::AdamWOptions().lr(1e-2)}},
///                 fo::AdamWOptions().lr(1e-3).weight_decay(0.01));
using AdamW = FusedOptimizer<AdamWOptions>;

extern template class OptimizerWithOptions<AdamOptions>;
extern template class OptimizerWithOptions<AdamWOptions>;
extern template class FusedOptimizer<AdamOptions>;
extern template class FusedOptimizer<AdamWOptions>;

}  // namespace fusedopt
