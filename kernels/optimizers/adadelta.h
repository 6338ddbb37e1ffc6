#pragma once
// Adadelta as torch.optim.Adadelta computes it (_single_tensor_adadelta):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   square_avg = rho * square_avg + (1 - rho) * g^2
//   delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta = rho * acc_delta + (1 - rho) * delta^2
//   p -= lr * delta
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct AdadeltaOp {
  enum Slot { kLr, kRho, kEps, kWeightDecay };
  static constexpr int kNumFlags = 0;  // maximize is the engine's (NOTE(maximize))
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): all but the stochastic AMP kernel with fp32 masters and bf16 state (it spilled
  /// 12 B for sm_90 after NOTE(absent-grad)).
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !(kStochastic && kUnscale && std::is_same_v<T, Bf16State<Master<BFloat16>>>);
  }

  struct Constants {
    float lr, rho, one_minus_rho, eps, weight_decay;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float, double) {
    const double* h = group.hyper;
    return {float(h[kLr]), float(h[kRho]), float(1.0 - h[kRho]), float(h[kEps]),
            float(h[kWeightDecay])};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // square_avg, acc_delta
  }

  static constexpr int kNumPasses = 5;
  static constexpr int kNumTemps = 2;  // the prepared gradient, delta

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    const GradientSource grad{c.weight_decay};
    if constexpr (P == 0) {  // g = -grad + wd * p
      return grad.pass(e);
    } else if constexpr (P == 1) {  // square_avg.mul_(rho).addcmul_(g, g, 1 - rho)
      return grad.square_average_pass<0>(c.rho, c.one_minus_rho, e);
    } else if constexpr (P == 2) {  // delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
      if (e) e->t[1] = std::sqrt(e->s[1] + c.eps) / std::sqrt(e->s[0] + c.eps) * grad.read(*e);
      return {state_list(0) | state_list(1) | grad.list(), kTemp1};
    } else if constexpr (P == 3) {  // acc_delta.mul_(rho).addcmul_(delta, delta, 1 - rho)
      if (e) e->s[1] = c.rho * e->s[1] + c.one_minus_rho * e->t[1] * e->t[1];
      return {state_list(1) | kTemp1, state_list(1)};
    } else {  // p.add_(delta, alpha=-lr)
      if (e) e->p -= c.lr * e->t[1];
      return {kParamList | kTemp1, kParamList};
    }
  }
};

}  // namespace fusedopt::kernels
