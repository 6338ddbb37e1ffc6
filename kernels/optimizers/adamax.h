#pragma once
// Adamax as torch.optim.Adamax computes it (_single_tensor_adamax):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   exp_avg = beta1 * exp_avg + (1 - beta1) * g
//   exp_inf = max(beta2 * exp_inf, |g| + eps)          (NaN propagates, as torch.amax)
//   p -= lr / (1 - beta1^t) * exp_avg / exp_inf
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct AdamaxOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay };
  static constexpr int kNumFlags = 0;  // maximize is the engine's (NOTE(maximize))
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): bf16 state without stochastic rounding (fp32 state spilled 16-64 B).
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !kStochastic && std::is_same_v<typename Layout<T>::State, BFloat16>;
  }

  struct Constants {
    float beta1, one_minus_beta1, beta2, eps, weight_decay, clr;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    const double step = double(step_before + 1.0f);
    return {float(h[kBeta1]), float(1.0 - h[kBeta1]), float(h[kBeta2]), float(h[kEps]),
            float(h[kWeightDecay]), float(h[kLr] / (1.0 - pow(h[kBeta1], step)))};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // exp_avg, exp_inf
  }

  static constexpr int kNumPasses = 4;
  static constexpr int kNumTemps = 1;  // the prepared gradient

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    const GradientSource grad{c.weight_decay};
    if constexpr (P == 0) {  // g = -grad + wd * p
      return grad.pass(e);
    } else if constexpr (P == 1) {  // exp_avg.lerp_(g, 1 - beta1)
      return grad.lerp_pass<0>(c.one_minus_beta1, e);
    } else if constexpr (P == 2) {  // exp_inf = max(beta2 * exp_inf, |g| + eps)
      if (e) {
        const float decayed = c.beta2 * e->s[1];
        const float fresh = std::fabs(grad.read(*e)) + c.eps;
        e->s[1] = (decayed > fresh || decayed != decayed) ? decayed : fresh;
      }
      return {state_list(1) | grad.list(), state_list(1)};
    } else {  // p.addcdiv_(exp_avg, exp_inf, -clr)
      if (e) e->p -= c.clr * e->s[0] / e->s[1];
      return {kParamList | state_list(0) | state_list(1), kParamList};
    }
  }
};

}  // namespace fusedopt::kernels
