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

#include "kernels/engine/config.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct NAdamOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kMomentumDecay };
  // maximize is the engine's (NOTE(maximize)), not a flag
  enum Flag : std::uint32_t { kDecoupled = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = true;  // mu_product

  struct Constants {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, lr_weight_decay;
    float grad_coef, exp_avg_coef, bias_correction2, one_minus_lr_weight_decay;
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
            float(1.0 - pow(h[kBeta2], step)),
            float(1.0 - h[kLr] * h[kWeightDecay])};
  }

  FUSEDOPT_HD static double next_param_state(const GroupScalars& group, float step_before,
                                             double state) {
    return mu_product(group.hyper, step_before, state);
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // exp_avg, exp_avg_sq
  }

  static constexpr int kNumPasses = 5;
  static constexpr int kNumTemps = 2;  // the prepared gradient, the denominator

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
    } else if constexpr (P == 3) {  // denom = sqrt(exp_avg_sq / (1 - beta2^t)) + eps
      if (e) e->t[1] = std::sqrt(e->s[1] / c.bias_correction2) + c.eps;
      return {state_list(1), kTemp1};
    } else {  // p -= (grad_coef * g + exp_avg_coef * exp_avg) / denom [+ lr * wd * p]
      if (e) {
        const float delta = (c.grad_coef * grad.read(*e) + c.exp_avg_coef * e->s[0]) / e->t[1];
        e->p = kDecoupledDecay ? decay_then_subtract(e->p, c.lr_weight_decay,
                                                     c.one_minus_lr_weight_decay, delta)
                               : e->p - delta;
      }
      return {kParamList | grad.list() | state_list(0) | kTemp1, kParamList};
    }
  }
};

}  // namespace fusedopt::kernels
