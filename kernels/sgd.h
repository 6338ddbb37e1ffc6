#pragma once
// SGD with momentum, dampening, nesterov, L2 weight decay and maximize, as torch.optim.SGD
// computes it (torch/optim/sgd.py, _single_tensor_sgd): the gradient is negated for maximize
// *before* weight decay, and the first step initialises the momentum buffer to the gradient.
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct SGDOp {
  enum Slot { kLr, kMomentum, kDampening, kWeightDecay };
  enum Flag : std::uint32_t { kMaximize = 1, kNesterov = 2, kHasMomentum = 4 };
  static constexpr int kNumFlags = 3;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float lr, momentum, one_minus_dampening, weight_decay;
    bool first_step;  // the momentum buffer does not exist yet: buf = grad
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    return {float(h[kLr]), float(h[kMomentum]), float(1.0 - h[kDampening]),
            float(h[kWeightDecay]), step_before == 0.0f};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return (Flags & kHasMomentum) ? 1 : 0;
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    if (c.weight_decay != 0.0f) g += c.weight_decay * p;
    if constexpr (Flags & kHasMomentum) {
      float& buf = state[0];
      buf = c.first_step ? g : c.momentum * buf + c.one_minus_dampening * g;
      g = (Flags & kNesterov) ? g + c.momentum * buf : buf;
    }
    p -= c.lr * g;
  }
};

}  // namespace fusedopt::kernels
