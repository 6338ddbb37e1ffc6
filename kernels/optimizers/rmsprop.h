#pragma once
// RMSprop as torch.optim.RMSprop computes it (_single_tensor_rmsprop):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   square_avg = alpha * square_avg + (1 - alpha) * g^2
//   centered: grad_avg = alpha * grad_avg + (1 - alpha) * g;  avg = sqrt(square_avg - grad_avg^2) + eps
//   else:     avg = sqrt(square_avg) + eps
//   momentum > 0: buf = momentum * buf + g / avg;  p -= lr * buf      else: p -= lr * g / avg
// State order: square_avg, then grad_avg (centered), then momentum_buffer (momentum > 0).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct RMSpropOp {
  enum Slot { kLr, kAlpha, kEps, kWeightDecay, kMomentum };
  // maximize is the engine's (NOTE(maximize)), not a flag
  enum Flag : std::uint32_t { kCentered = 1, kHasMomentum = 2 };
  static constexpr int kNumFlags = 2;
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): f32, f16 and bf16 state with fp32 masters, without AMP or stochastic rounding
  /// (plain bf16 spilled 8 B for sm_80, fp32 masters over 360 B, bf16 with bf16 state 22 B for
  /// sm_90 since maximize left the flags, NOTE(maximize)).
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !kUnscale && !kStochastic &&
           (std::is_same_v<T, float> || std::is_same_v<T, Half> ||
            std::is_same_v<T, Bf16State<Master<BFloat16>>>);
  }

  struct Constants {
    float lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float, double) {
    const double* h = group.hyper;
    return {float(h[kLr]),  float(h[kAlpha]),       float(1.0 - h[kAlpha]),
            float(h[kEps]), float(h[kWeightDecay]), float(h[kMomentum])};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 1 + ((Flags & kCentered) ? 1 : 0) + ((Flags & kHasMomentum) ? 1 : 0);
  }

  static constexpr int kNumPasses = 6;
  static constexpr int kNumTemps = 2;  // the prepared gradient, avg

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    const GradientSource grad{c.weight_decay};
    constexpr bool kIsCentered = Flags & kCentered;
    constexpr bool kMomentum = Flags & kHasMomentum;
    constexpr int kBuf = kIsCentered ? 2 : 1;
    if constexpr (P == 0) {  // g = -grad + wd * p
      return grad.pass(e);
    } else if constexpr (P == 1) {  // square_avg.mul_(alpha).addcmul_(g, g, 1 - alpha)
      return grad.square_average_pass<0>(c.alpha, c.one_minus_alpha, e);
    } else if constexpr (P == 2) {  // centered: grad_avg.lerp_(g, 1 - alpha)
      if constexpr (!kIsCentered) return {};
      return grad.lerp_pass<1>(c.one_minus_alpha, e);
    } else if constexpr (P == 3) {  // avg = sqrt(square_avg [- grad_avg^2]) + eps
      if (e) {
        const float variance = kIsCentered ? e->s[0] - e->s[1] * e->s[1] : e->s[0];
        e->t[1] = std::sqrt(variance) + c.eps;
      }
      return {state_list(0) | (kIsCentered ? state_list(1) : 0u), kTemp1};
    } else if constexpr (P == 4) {  // momentum: buf.mul_(momentum).addcdiv_(g, avg)
      if constexpr (!kMomentum) return {};
      if (e) e->s[kBuf] = c.momentum * e->s[kBuf] + grad.read(*e) / e->t[1];
      return {state_list(kBuf) | grad.list() | kTemp1, state_list(kBuf)};
    } else {  // p -= lr * buf, or p.addcdiv_(g, avg, -lr)
      if constexpr (kMomentum) {
        if (e) e->p -= c.lr * e->s[kBuf];
        return {kParamList | state_list(kBuf), kParamList};
      } else {
        if (e) e->p -= c.lr * grad.read(*e) / e->t[1];
        return {kParamList | grad.list() | kTemp1, kParamList};
      }
    }
  }
};

}  // namespace fusedopt::kernels
