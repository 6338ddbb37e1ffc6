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

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

template <bool kDecoupledWeightDecay>
struct AdamOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay };
  enum Flag : std::uint32_t { kMaximize = 1, kAmsgrad = 2 };
  static constexpr int kNumFlags = 2;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
    float lr_weight_decay;       // AdamW: lr * weight_decay (NOTE(decoupled-decay))
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
            float(h[kLr] / bias_correction1),
            float(sqrt(bias_correction2))};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return (Flags & kAmsgrad) ? 3 : 2;  // exp_avg, exp_avg_sq[, max_exp_avg_sq]
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    if constexpr (!kDecoupledWeightDecay) {
      if (c.weight_decay != 0.0f) g += c.weight_decay * p;
    }
    float& m = state[0];
    float& v = state[1];
    m = c.beta1 * m + c.one_minus_beta1 * g;
    v = c.beta2 * v + c.one_minus_beta2 * g * g;
    float second = v;
    if constexpr (Flags & kAmsgrad) {
      // NaN on either side propagates, as torch.maximum does.
      state[2] = (state[2] > v || state[2] != state[2]) ? state[2] : v;
      second = state[2];
    }
    const float denom = std::sqrt(second) / c.bias_correction2_sqrt + c.eps;
    if constexpr (kDecoupledWeightDecay) {
      // NOTE(decoupled-decay): torch computes p *= 1 - lr*wd, then p -= update. Rounding the
      // factor 1 - lr*wd to float biases every step the same way (up to 6e-8 relative, which
      // compounds); subtracting lr*wd*p together with the update rounds p once and keeps the
      // factor's error at lr*wd times smaller. Same formula, same theta_{t-1}.
      p -= c.lr_weight_decay * p + c.step_size * m / denom;
    } else {
      p -= c.step_size * m / denom;
    }
  }
};

using AdamStepOp = AdamOp<false>;
using AdamWStepOp = AdamOp<true>;

}  // namespace fusedopt::kernels
