#pragma once
// NAdam as torch.optim.NAdam computes it (_single_tensor_nadam, PyTorch 2.x), t = step after
// increment, psi = momentum_decay:
//   g = maximize ? -grad : grad
//   decoupled_weight_decay: p *= 1 - lr * wd          else: g += wd * p
//   mu_t = beta1 * (1 - 0.5 * 0.96^(t psi)),  mu_{t+1} = beta1 * (1 - 0.5 * 0.96^((t+1) psi))
//   mu_product *= mu_t                       (per-parameter scalar state, 1 before step 1)
//   exp_avg = beta1 * exp_avg + (1 - beta1) * g;  exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) g^2
//   denom = sqrt(exp_avg_sq / (1 - beta2^t)) + eps
//   p -= lr (1 - mu_t) / (1 - mu_product) * g / denom
//      + lr mu_{t+1} / (1 - mu_product mu_{t+1}) * exp_avg / denom
#include <cmath>
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct NAdamOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kMomentumDecay };
  enum Flag : std::uint32_t { kMaximize = 1, kDecoupled = 2 };
  static constexpr int kNumFlags = 2;
  static constexpr bool kHasParamState = true;  // mu_product

  struct Constants {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, lr_weight_decay;
    float grad_coef, exp_avg_coef, bias_correction2;
  };

  FUSEDOPT_HD static double mu(const double* h, double step) {
    return h[kBeta1] * (1.0 - 0.5 * pow(0.96, step * h[kMomentumDecay]));
  }
  FUSEDOPT_HD static double mu_product(const double* h, float step_before, double state) {
    const double previous = step_before == 0.0f ? 1.0 : state;
    return previous * mu(h, double(step_before + 1.0f));
  }

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double state) {
    const double* h = group.hyper;
    const double step = double(step_before + 1.0f);
    const double mu_t = mu(h, step);
    const double mu_next = mu(h, step + 1.0);
    const double product = mu_product(h, step_before, state);
    return {float(h[kBeta1]),
            float(1.0 - h[kBeta1]),
            float(h[kBeta2]),
            float(1.0 - h[kBeta2]),
            float(h[kEps]),
            float(h[kWeightDecay]),
            float(h[kLr] * h[kWeightDecay]),
            float(h[kLr] * (1.0 - mu_t) / (1.0 - product)),
            float(h[kLr] * mu_next / (1.0 - product * mu_next)),
            float(1.0 - pow(h[kBeta2], step))};
  }

  FUSEDOPT_HD static double next_param_state(const GroupScalars& group, float step_before,
                                             double state) {
    return mu_product(group.hyper, step_before, state);
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
    const float denom = std::sqrt(exp_avg_sq / c.bias_correction2) + c.eps;
    float delta = (c.grad_coef * g + c.exp_avg_coef * exp_avg) / denom;
    if constexpr (Flags & kDecoupled) delta += c.lr_weight_decay * p;  // NOTE(decoupled-decay)
    p -= delta;
  }
};

}  // namespace fusedopt::kernels
