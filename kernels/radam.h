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

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct RAdamOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay };
  enum Flag : std::uint32_t { kMaximize = 1, kDecoupled = 2 };
  static constexpr int kNumFlags = 2;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, lr_weight_decay;
    float step_size;
    bool rectify;
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
            float(h[kLr] * h[kWeightDecay]), float(step_size), rectify};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // exp_avg, exp_avg_sq
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    if constexpr (!(Flags & kDecoupled)) {
      if (c.weight_decay != 0.0f) g += c.weight_decay * p;
    }
    float& exp_avg = state[0];
    float& exp_avg_sq = state[1];
    exp_avg = c.beta1 * exp_avg + c.one_minus_beta1 * g;
    exp_avg_sq = c.beta2 * exp_avg_sq + c.one_minus_beta2 * g * g;
    float delta = c.rectify ? c.step_size * exp_avg / (std::sqrt(exp_avg_sq) + c.eps)
                            : c.step_size * exp_avg;
    if constexpr (Flags & kDecoupled) delta += c.lr_weight_decay * p;  // NOTE(decoupled-decay)
    p -= delta;
  }
};

}  // namespace fusedopt::kernels
