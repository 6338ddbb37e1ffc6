#pragma once
// Adagrad as torch.optim.Adagrad computes it (_single_tensor_adagrad), t = step after increment:
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   clr = lr / (1 + (t - 1) * lr_decay)
//   sum += g^2                    (sum starts at initial_accumulator_value, set at construction)
//   p -= clr * g / (sqrt(sum) + eps)
#include <cmath>
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct AdagradOp {
  enum Slot { kLr, kLrDecay, kWeightDecay, kInitialAccumulatorValue, kEps };
  enum Flag : std::uint32_t { kMaximize = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float clr, weight_decay, eps;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    return {float(h[kLr] / (1.0 + double(step_before) * h[kLrDecay])), float(h[kWeightDecay]),
            float(h[kEps])};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 1;  // sum
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    if (c.weight_decay != 0.0f) g += c.weight_decay * p;
    float& sum = state[0];
    sum += g * g;
    p -= c.clr * g / (std::sqrt(sum) + c.eps);
  }
};

}  // namespace fusedopt::kernels
