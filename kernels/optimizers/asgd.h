#pragma once
// ASGD as torch.optim.ASGD computes it in PyTorch 2.x (_single_tensor_asgd; earlier releases'
// foreach path computed eta differently), t = step after increment:
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   p = p * (1 - lambd * eta) - eta * g
//   mu != 1: ax += (p - ax) * mu      else: ax = p
//   then eta = lr / (1 + lambd * lr * t)^alpha and mu = 1 / max(1, t - t0) for the next step.
// eta is per-parameter scalar state (lr before the first step, taken then, as torch does);
// mu is a function of the step count.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct ASGDOp {
  enum Slot { kLr, kLambd, kAlpha, kT0, kWeightDecay };
  static constexpr int kNumFlags = 0;  // maximize is the engine's (NOTE(maximize))
  static constexpr bool kHasParamState = true;  // eta
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): all but the AMP kernels with stochastic rounding or fp32 masters, and f16 with fp32
  /// masters (it spilled for sm_90 after NOTE(absent-grad)).
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !(kUnscale && (kStochastic || Layout<T>::kMaster)) && !std::is_same_v<T, Master<Half>>;
  }

  struct Constants {
    float eta, lambd_eta, one_minus_lambd_eta, mu, weight_decay;
    std::uint32_t copy_ax;  // mu == 1; 32-bit, not bool: NOTE(cpu-columns)
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double eta) {
    const double* h = group.hyper;
    if (step_before == 0.0f) eta = h[kLr];
    const double steps_past_t0 = double(step_before) - h[kT0];
    const double mu = 1.0 / (steps_past_t0 > 1.0 ? steps_past_t0 : 1.0);
    return {float(eta), float(h[kLambd] * eta), float(1.0 - h[kLambd] * eta), float(mu),
            float(h[kWeightDecay]), mu == 1.0};
  }

  FUSEDOPT_HD static double next_param_state(const GroupScalars& group, float step_before,
                                             double) {
    const double* h = group.hyper;
    const double step = double(step_before + 1.0f);
    return h[kLr] / pow(1.0 + h[kLambd] * h[kLr] * step, h[kAlpha]);
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 1;  // ax
  }

  static constexpr int kNumPasses = 3;
  static constexpr int kNumTemps = 1;  // the prepared gradient

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    const GradientSource grad{c.weight_decay};
    if constexpr (P == 0) {  // g = -grad + wd * p
      return grad.pass(e);
    } else if constexpr (P == 1) {  // p = p * (1 - lambd * eta) - eta * g, one rounding of p
      if (e)  // as NOTE(decoupled-decay)
        e->p = decay_then_subtract(e->p, c.lambd_eta, c.one_minus_lambd_eta, c.eta * grad.read(*e));
      return {kParamList | grad.list(), kParamList};
    } else {  // ax = p (mu == 1) or ax += (p - ax) * mu
      if (e) e->s[0] = c.copy_ax ? e->p : e->s[0] + (e->p - e->s[0]) * c.mu;
      return {kParamList | (c.copy_ax ? 0u : state_list(0)), state_list(0)};
    }
  }
};

}  // namespace fusedopt::kernels
