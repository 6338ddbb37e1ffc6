#pragma once
// Rprop as torch.optim.Rprop computes it (_single_tensor_rprop):
//   g = maximize ? -grad : grad
//   s = sign(g * prev);  factor = s > 0 ? eta_plus : s < 0 ? eta_minus : 1
//   step_size = clamp(step_size * factor, step_size_min, step_size_max)
//   g = 0 where s < 0;  p -= sign(g) * step_size;  prev = g
// State (prev = 0, step_size = lr) is initialised at the first step, as torch does lazily, so a
// scheduler that changed lr before the first step is honoured.
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct RpropOp {
  enum Slot { kLr, kEtaMinus, kEtaPlus, kStepSizeMin, kStepSizeMax };
  static constexpr int kNumFlags = 0;  // maximize is the engine's (NOTE(maximize))
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): all but those with fp32 masters and bf16 state that use AMP or stochastic rounding
  /// (the stochastic one spilled 12+ B for sm_90 after NOTE(absent-grad)), and f32's AMP kernel
  /// (4 B for sm_80 since maximize left the flags, NOTE(maximize)).
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !((kUnscale || kStochastic) && std::is_same_v<T, Bf16State<Master<BFloat16>>>) &&
           !(kUnscale && std::is_same_v<T, float>);
  }

  struct Constants {
    float lr, eta_minus, eta_plus, step_size_min, step_size_max;
    std::uint32_t first_step;  // 32-bit, not bool: NOTE(cpu-columns)
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

  static constexpr int kNumPasses = 3;
  static constexpr int kNumTemps = 0;

  /// g * prev, with prev = 0 on the first step (the state is initialised lazily; an infinite
  /// gradient gives NaN, as in torch).
  FUSEDOPT_HD static float sign_product(const Constants& c, float g, float prev) {
    return g * (c.first_step ? 0.0f : prev);
  }

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    constexpr std::uint32_t kReadsPrev = kGradList | state_list(0);
    if constexpr (P == 0) {  // step_size = clamp(step_size * factor(sign(g * prev)))
      if (e) {
        const float product = sign_product(c, e->g, e->s[0]);
        const float factor = product > 0.0f ? c.eta_plus : product < 0.0f ? c.eta_minus : 1.0f;
        const float step_size = c.first_step ? c.lr : e->s[1];
        e->s[1] = min_of(max_of(step_size * factor, c.step_size_min), c.step_size_max);
      }
      return {kReadsPrev | state_list(1), state_list(1)};
    } else if constexpr (P == 1) {  // p -= sign(g) * step_size, g = 0 where the sign flipped
      if (e) {
        const float masked = sign_product(c, e->g, e->s[0]) < 0.0f ? 0.0f : e->g;
        const float sign = masked > 0.0f ? 1.0f : masked < 0.0f ? -1.0f : 0.0f;
        e->p -= sign * e->s[1];
      }
      return {kParamList | kReadsPrev | state_list(1), kParamList};
    } else {  // prev = masked g
      if (e) e->s[0] = sign_product(c, e->g, e->s[0]) < 0.0f ? 0.0f : e->g;
      return {kReadsPrev, state_list(0)};
    }
  }
};

}  // namespace fusedopt::kernels
