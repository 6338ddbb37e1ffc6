#pragma once
// Rprop as torch.optim.Rprop computes it (_single_tensor_rprop):
//   g = maximize ? -grad : grad
//   s = sign(g * prev);  factor = s > 0 ? eta_plus : s < 0 ? eta_minus : 1
//   step_size = clamp(step_size * factor, step_size_min, step_size_max)
//   g = 0 where s < 0;  p -= sign(g) * step_size;  prev = g
// State (prev = 0, step_size = lr) is initialised at the first step, as torch does lazily, so a
// scheduler that changed lr before the first step is honoured.
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct RpropOp {
  enum Slot { kLr, kEtaMinus, kEtaPlus, kStepSizeMin, kStepSizeMax };
  enum Flag : std::uint32_t { kMaximize = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float lr, eta_minus, eta_plus, step_size_min, step_size_max;
    bool first_step;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    return {float(h[kLr]),         float(h[kEtaMinus]),    float(h[kEtaPlus]),
            float(h[kStepSizeMin]), float(h[kStepSizeMax]), step_before == 0.0f};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // prev, step_size
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    float& prev = state[0];
    float& step_size = state[1];
    if (c.first_step) {
      prev = 0.0f;
      step_size = c.lr;
    }
    const float product = g * prev;
    const float factor = product > 0.0f ? c.eta_plus : product < 0.0f ? c.eta_minus : 1.0f;
    step_size = min_of(max_of(step_size * factor, c.step_size_min), c.step_size_max);
    if (product < 0.0f) g = 0.0f;
    const float sign = g > 0.0f ? 1.0f : g < 0.0f ? -1.0f : 0.0f;
    p -= sign * step_size;
    prev = g;
  }
};

}  // namespace fusedopt::kernels
