#pragma once
#include "fusedopt/optimizer.hpp"

namespace fusedopt {

#define FUSEDOPT_ADAM_FAMILY_OPTIONS(OPTION, PAIR)       \
  OPTION(double, lr, 1e-3, non_negative)                 \
  PAIR(betas, kDefaultBetas, beta1, beta, beta2, beta)   \
  OPTION(double, eps, 1e-8, non_negative)                \
  OPTION(double, weight_decay, 0.0, non_negative)        \
  OPTION(bool, amsgrad, false, any)                      \
  OPTION(bool, maximize, false, any)

/// Shared by Adam and AdamW: they differ only in the default weight_decay and in how weight
/// decay is applied (L2 in the gradient vs decoupled).
template <class Self>
class AdamFamilyOptions {
  FUSEDOPT_DECLARE_OPTIONS(Self, AdamFamilyOptions, FUSEDOPT_ADAM_FAMILY_OPTIONS)
 protected:
  explicit AdamFamilyOptions(double default_weight_decay) { weight_decay_ = default_weight_decay; }
};

/// torch.optim.Adam's options: FUSEDOPT_ADAM_FAMILY_OPTIONS above. weight_decay is an L2 term
/// added to the gradient.
class AdamOptions : public AdamFamilyOptions<AdamOptions> {
 public:
  static constexpr const char* kOptimizer = "Adam";
  AdamOptions() : AdamFamilyOptions(0.0) {}
};

/// torch.optim.AdamW's options: FUSEDOPT_ADAM_FAMILY_OPTIONS above, but weight_decay defaults to
/// 1e-2 (torch's) and is decoupled: p *= 1 - lr * weight_decay.
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
