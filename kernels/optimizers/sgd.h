#pragma once
// SGD with momentum, dampening, nesterov, L2 weight decay and maximize, as torch.optim.SGD
// computes it (torch/optim/sgd.py, _single_tensor_sgd): the gradient is negated for maximize
// *before* weight decay, and the first step initialises the momentum buffer to the gradient.
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct SGDOp {
  enum Slot { kLr, kMomentum, kDampening, kWeightDecay };
  // maximize is the engine's (NOTE(maximize)), not a flag
  enum Flag : std::uint32_t { kNesterov = 1, kHasMomentum = 2 };
  static constexpr int kNumFlags = 2;
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): without stochastic rounding, with AMP only for f32, and not for plain bf16 (8 B for
  /// sm_80).
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !kStochastic && !std::is_same_v<T, BFloat16> && (!kUnscale || std::is_same_v<T, float>);
  }

  struct Constants {
    float lr, momentum, one_minus_dampening, weight_decay;
    // 32-bit, not bool, for every flag the element math selects on (NOTE(cpu-columns)).
    std::uint32_t first_step;  // the momentum buffer does not exist yet: buf = grad
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    return {float(h[kLr]), float(h[kMomentum]), float(1.0 - h[kDampening]),
            float(h[kWeightDecay]), step_before == 0.0f};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return (Flags & kHasMomentum) ? 1 : 0;
  }

  static constexpr int kNumPasses = 4;
  static constexpr int kNumTemps = 1;  // the prepared gradient, then the nesterov direction

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    const GradientSource grad{c.weight_decay};
    constexpr bool kMomentum = Flags & kHasMomentum;
    constexpr bool kNesterovMomentum = kMomentum && (Flags & kNesterov);
    if constexpr (P == 0) {  // g = -grad + wd * p
      return grad.pass(e);
    } else if constexpr (P == 1) {  // buf = first ? g : momentum * buf + (1 - dampening) * g
      if constexpr (!kMomentum) return {};
      if (e) {
        const float g = grad.read(*e);
        e->s[0] = c.first_step ? g : c.momentum * e->s[0] + c.one_minus_dampening * g;
      }
      return {state_list(0) | grad.list(), state_list(0)};
    } else if constexpr (P == 2) {  // nesterov: g = g + momentum * buf
      if constexpr (!kNesterovMomentum) return {};
      if (e) e->t[0] = grad.read(*e) + c.momentum * e->s[0];
      return {grad.list() | state_list(0), kTemp0};
    } else {  // p -= lr * direction
      const std::uint32_t direction =
          kNesterovMomentum ? kTemp0 : kMomentum ? state_list(0) : grad.list();
      if (e) {
        const float d = kNesterovMomentum ? e->t[0] : kMomentum ? e->s[0] : grad.read(*e);
        e->p -= c.lr * d;
      }
      return {kParamList | direction, kParamList};
    }
  }
};

}  // namespace fusedopt::kernels
