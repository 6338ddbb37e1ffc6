#pragma once
// Adamax as torch.optim.Adamax computes it (_single_tensor_adamax):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   exp_avg = beta1 * exp_avg + (1 - beta1) * g
//   exp_inf = max(beta2 * exp_inf, |g| + eps)          (NaN propagates, as torch.amax)
//   p -= lr / (1 - beta1^t) * exp_avg / exp_inf
#include <cmath>
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct AdamaxOp {
  enum Slot { kLr, kBeta1, kBeta2, kEps, kWeightDecay };
  enum Flag : std::uint32_t { kMaximize = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;

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

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    if (c.weight_decay != 0.0f) g += c.weight_decay * p;
    float& exp_avg = state[0];
    float& exp_inf = state[1];
    exp_avg = c.beta1 * exp_avg + c.one_minus_beta1 * g;
    const float decayed = c.beta2 * exp_inf;
    const float fresh = std::fabs(g) + c.eps;
    exp_inf = (decayed > fresh || decayed != decayed) ? decayed : fresh;
    p -= c.clr * exp_avg / exp_inf;
  }
};

}  // namespace fusedopt::kernels
