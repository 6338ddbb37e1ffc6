#pragma once
// Adadelta as torch.optim.Adadelta computes it (_single_tensor_adadelta):
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   square_avg = rho * square_avg + (1 - rho) * g^2
//   delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta = rho * acc_delta + (1 - rho) * delta^2
//   p -= lr * delta
#include <cmath>
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct AdadeltaOp {
  enum Slot { kLr, kRho, kEps, kWeightDecay };
  enum Flag : std::uint32_t { kMaximize = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float lr, rho, one_minus_rho, eps, weight_decay;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float, double) {
    const double* h = group.hyper;
    return {float(h[kLr]), float(h[kRho]), float(1.0 - h[kRho]), float(h[kEps]),
            float(h[kWeightDecay])};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // square_avg, acc_delta
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& p, float g, float* state, const Constants& c) {
    if constexpr (Flags & kMaximize) g = -g;
    if (c.weight_decay != 0.0f) g += c.weight_decay * p;
    float& square_avg = state[0];
    float& acc_delta = state[1];
    square_avg = c.rho * square_avg + c.one_minus_rho * g * g;
    const float delta = std::sqrt(acc_delta + c.eps) / std::sqrt(square_avg + c.eps) * g;
    acc_delta = c.rho * acc_delta + c.one_minus_rho * delta * delta;
    p -= c.lr * delta;
  }
};

}  // namespace fusedopt::kernels
