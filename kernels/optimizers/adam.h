#pragma once
// Adam and AdamW (amsgrad, maximize), as in the torch.optim.Adam / AdamW documentation:
//   g = maximize ? -grad : grad
//   Adam:  g += weight_decay * p          AdamW: p *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   amsgrad: v_max = max(v_max, v), and v_max replaces v below
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Bias corrections are computed in double from the device step count, once per block.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

template <bool kDecoupledWeightDecay>
struct AdamOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay };
  // maximize is the engine's (NOTE(maximize)), not a flag
  enum Flag : std::uint32_t { kAmsgrad = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): f32 parameters only; with 2-byte parameters they spilled 8-506 B.
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return std::is_same_v<T, float>;
  }

  struct Constants {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
    float lr_weight_decay;       // AdamW: lr * weight_decay (NOTE(decoupled-decay))
    float one_minus_lr_weight_decay;
    float step_size;             // lr / (1 - beta1^t)
    float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    const double step = double(step_before + 1.0f);  // torch increments a float32 step first
    const double bias_correction1 = 1.0 - pow(h[kBeta1], step);
    const double bias_correction2 = 1.0 - pow(h[kBeta2], step);
    return {float(h[kBeta1]),
            float(1.0 - h[kBeta1]),
            float(h[kBeta2]),
            float(1.0 - h[kBeta2]),
            float(h[kEps]),
            float(h[kWeightDecay]),
            float(h[kLr] * h[kWeightDecay]),
            float(1.0 - h[kLr] * h[kWeightDecay]),
            float(h[kLr] / bias_correction1),
            float(sqrt(bias_correction2))};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return (Flags & kAmsgrad) ? 3 : 2;  // exp_avg, exp_avg_sq[, max_exp_avg_sq]
  }

  static constexpr int kNumPasses = 6;
  static constexpr int kNumTemps = 2;  // the prepared gradient, the denominator

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    const GradientSource grad{kDecoupledWeightDecay ? 0.0f : c.weight_decay};
    constexpr std::uint32_t kSecond = (Flags & kAmsgrad) ? state_list(2) : state_list(1);
    if constexpr (P == 0) {  // g = -grad + wd * p (Adam)
      return grad.pass(e);
    } else if constexpr (P == 1) {  // exp_avg.lerp_(g, 1 - beta1)
      return grad.lerp_pass<0>(c.one_minus_beta1, e);
    } else if constexpr (P == 2) {  // exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
      return grad.square_average_pass<1>(c.beta2, c.one_minus_beta2, e);
    } else if constexpr (P == 3) {  // amsgrad: torch.maximum(max_exp_avg_sq, exp_avg_sq)
      if constexpr (!(Flags & kAmsgrad)) return {};
      // NaN on either side propagates, as torch.maximum does.
      if (e) e->s[2] = (e->s[2] > e->s[1] || e->s[2] != e->s[2]) ? e->s[2] : e->s[1];
      return {state_list(1) | state_list(2), state_list(2)};
    } else if constexpr (P == 4) {  // denom = sqrt(v) / sqrt(1 - beta2^t) + eps
      if (e) {
        const float second = (Flags & kAmsgrad) ? e->s[2] : e->s[1];
        e->t[1] = std::sqrt(second) / c.bias_correction2_sqrt + c.eps;
      }
      return {kSecond, kTemp1};
    } else {  // p.addcdiv_(exp_avg, denom, -step_size)
      // NOTE(decoupled-decay): torch computes p *= 1 - lr*wd, then p -= update. Rounding the
      // factor 1 - lr*wd to float biases every step the same way (up to 6e-8 relative, which
      // compounds); subtracting lr*wd*p together with the update rounds p once and keeps the
      // factor's error at lr*wd times smaller. Same formula, same theta_{t-1}; an infinite p
      // takes torch's two-step form (decay_then_subtract in passes.h).
      if (e) {
        const float update = c.step_size * e->s[0] / e->t[1];
        e->p = kDecoupledWeightDecay ? decay_then_subtract(e->p, c.lr_weight_decay,
                                                           c.one_minus_lr_weight_decay, update)
                                     : e->p - update;
      }
      return {kParamList | state_list(0) | kTemp1, kParamList};
    }
  }
};

using AdamStepOp = AdamOp<false>;
using AdamWStepOp = AdamOp<true>;

}  // namespace fusedopt::kernels
