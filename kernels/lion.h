#pragma once
// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2):
//   g = maximize ? -grad : grad
//   c = beta1 * exp_avg + (1 - beta1) * g
//   p -= lr * (sign(c) + weight_decay * p)          (decoupled weight decay; sign(0) = 0)
//   exp_avg = beta2 * exp_avg + (1 - beta2) * g
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct LionOp {
  enum Slot { kLr, kBeta1, kBeta2, kWeightDecay };
  enum Flag : std::uint32_t { kMaximize = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float lr, beta1, one_minus_beta1, beta2, one_minus_beta2, lr_weight_decay;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float, double) {
    const double* h = group.hyper;
    return {float(h[kLr]),         float(h[kBeta1]),       float(1.0 - h[kBeta1]),
            float(h[kBeta2]),      float(1.0 - h[kBeta2]), float(h[kLr] * h[kWeightDecay])};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 1;  // exp_avg
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    float& exp_avg = state[0];
    const float direction = c.beta1 * exp_avg + c.one_minus_beta1 * g;
    const float sign = direction > 0.0f ? 1.0f : direction < 0.0f ? -1.0f : 0.0f;
    p -= c.lr * sign + c.lr_weight_decay * p;
    exp_avg = c.beta2 * exp_avg + c.one_minus_beta2 * g;
  }
};

}  // namespace fusedopt::kernels
