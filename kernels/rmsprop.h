#pragma once
// RMSprop as torch.optim.RMSprop computes it (_single_tensor_rmsprop):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   square_avg = alpha * square_avg + (1 - alpha) * g^2
//   centered: grad_avg = alpha * grad_avg + (1 - alpha) * g;  avg = sqrt(square_avg - grad_avg^2) + eps
//   else:     avg = sqrt(square_avg) + eps
//   momentum > 0: buf = momentum * buf + g / avg;  p -= lr * buf      else: p -= lr * g / avg
// State order: square_avg, then grad_avg (centered), then momentum_buffer (momentum > 0).
#include <cmath>
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct RMSpropOp {
  enum Slot { kLr, kAlpha, kEps, kWeightDecay, kMomentum };
  enum Flag : std::uint32_t { kMaximize = 1, kCentered = 2, kHasMomentum = 4 };
  static constexpr int kNumFlags = 3;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float, double) {
    const double* h = group.hyper;
    return {float(h[kLr]),  float(h[kAlpha]),       float(1.0 - h[kAlpha]),
            float(h[kEps]), float(h[kWeightDecay]), float(h[kMomentum])};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 1 + ((Flags & kCentered) ? 1 : 0) + ((Flags & kHasMomentum) ? 1 : 0);
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    if (c.weight_decay != 0.0f) g += c.weight_decay * p;
    float& square_avg = state[0];
    square_avg = c.alpha * square_avg + c.one_minus_alpha * g * g;
    float avg;
    if constexpr (Flags & kCentered) {
      float& grad_avg = state[1];
      grad_avg = c.alpha * grad_avg + c.one_minus_alpha * g;
      avg = std::sqrt(square_avg - grad_avg * grad_avg) + c.eps;
    } else {
      avg = std::sqrt(square_avg) + c.eps;
    }
    if constexpr (Flags & kHasMomentum) {
      float& buf = state[(Flags & kCentered) ? 2 : 1];
      buf = c.momentum * buf + g / avg;
      p -= c.lr * buf;
    } else {
      p -= c.lr * g / avg;
    }
  }
};

}  // namespace fusedopt::kernels
