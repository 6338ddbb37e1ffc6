#pragma once
// RAdam as torch.optim.RAdam computes it (_single_tensor_radam), t = step after increment:
//   g = maximize ? -grad : grad;  decoupled_weight_decay: p *= 1 - lr wd   else g += wd p
//   exp_avg = beta1 exp_avg + (1 - beta1) g;  exp_avg_sq = beta2 exp_avg_sq + (1 - beta2) g^2
//   rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
//   rho_t > 5: r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//              p -= lr / (1 - beta1^t) * r * sqrt(1 - beta2^t) * exp_avg / (sqrt(exp_avg_sq) + eps)
//   else:      p -= lr / (1 - beta1^t) * exp_avg
// The branch depends only on t and beta2, so it is uniform across a block.
#include <cmath>
#include <cstdint>

#include "kernels/engine/config.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct RAdamOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay };
  // maximize is the engine's (NOTE(maximize)), not a flag
  enum Flag : std::uint32_t { kDecoupled = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;
  // NOTE(launch-bounds): no step_fits_64_registers: every RAdam step kernel gets 256-thread
  // blocks (under 64 registers f32 spilled 332 B for sm_90; bf16 with bf16 state spilled 8 B
  // in one build and not in another, as ptxas's choices moved with the rest of the file).

  struct Constants {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, lr_weight_decay;
    float step_size, one_minus_lr_weight_decay;
    std::uint32_t rectify;  // 32-bit, not bool: NOTE(cpu-columns)
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    const double step = double(step_before + 1.0f);
    const double beta2_t = pow(h[kBeta2], step);
    const double bias_correction1 = 1.0 - pow(h[kBeta1], step);
    const double bias_correction2 = 1.0 - beta2_t;
    const double rho_inf = 2.0 / (1.0 - h[kBeta2]) - 1.0;
    const double rho_t = rho_inf - 2.0 * step * beta2_t / bias_correction2;
    const bool rectify = rho_t > 5.0;
    double step_size = h[kLr] / bias_correction1;
    if (rectify)
      step_size *= sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                        ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)) *
                   sqrt(bias_correction2);
    return {float(h[kBeta1]), float(1.0 - h[kBeta1]),           float(h[kBeta2]),
            float(1.0 - h[kBeta2]), float(h[kEps]),               float(h[kWeightDecay]),
            float(h[kLr] * h[kWeightDecay]), float(step_size),
            float(1.0 - h[kLr] * h[kWeightDecay]), rectify};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // exp_avg, exp_avg_sq
  }

  static constexpr int kNumPasses = 4;
  static constexpr int kNumTemps = 1;  // the prepared gradient

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    constexpr bool kDecoupledDecay = Flags & kDecoupled;
    const GradientSource grad{kDecoupledDecay ? 0.0f : c.weight_decay};
    if constexpr (P == 0) {  // g = -grad + wd * p (L2)
      return grad.pass(e);
    } else if constexpr (P == 1) {  // exp_avg.lerp_(g, 1 - beta1)
      return grad.lerp_pass<0>(c.one_minus_beta1, e);
    } else if constexpr (P == 2) {  // exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
      return grad.square_average_pass<1>(c.beta2, c.one_minus_beta2, e);
    } else {  // p -= step_size * exp_avg [/ (sqrt(exp_avg_sq) + eps)] [+ lr * wd * p]
      if (e) {
        const float delta = c.rectify ? c.step_size * e->s[0] / (std::sqrt(e->s[1]) + c.eps)
                                      : c.step_size * e->s[0];
        e->p = kDecoupledDecay ? decay_then_subtract(e->p, c.lr_weight_decay,
                                                     c.one_minus_lr_weight_decay, delta)
                               : e->p - delta;
      }
      return {kParamList | state_list(0) | (c.rectify ? state_list(1) : 0u), kParamList};
    }
  }
};

}  // namespace fusedopt::kernels
