#pragma once
// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2):
//   g = maximize ? -grad : grad
//   c = beta1 * exp_avg + (1 - beta1) * g
//   p -= lr * (sign(c) + weight_decay * p)          (decoupled weight decay; sign(0) = 0)
//   exp_avg = beta2 * exp_avg + (1 - beta2) * g
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct LionOp {
  enum Slot { kLr, kBeta1, kBeta2, kWeightDecay };
  static constexpr int kNumFlags = 0;  // maximize is the engine's (NOTE(maximize))
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): all but the AMP kernels with bf16 parameters (16 B for sm_80).
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !(kUnscale && std::is_same_v<typename Layout<T>::Model, BFloat16>);
  }

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

  static constexpr int kNumPasses = 2;
  static constexpr int kNumTemps = 0;

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    if constexpr (P == 0) {  // p -= lr * (sign(beta1 m + (1 - beta1) g) + wd * p)
      if (e) {
        const float direction = c.beta1 * e->s[0] + c.one_minus_beta1 * e->g;
        const float sign = direction > 0.0f ? 1.0f : direction < 0.0f ? -1.0f : 0.0f;
        e->p -= c.lr * sign + c.lr_weight_decay * e->p;
      }
      return {kParamList | state_list(0) | kGradList, kParamList};
    } else {  // exp_avg.lerp_(g, 1 - beta2)
      if (e) e->s[0] = c.beta2 * e->s[0] + c.one_minus_beta2 * e->g;
      return {state_list(0) | kGradList, state_list(0)};
    }
  }
};

}  // namespace fusedopt::kernels
