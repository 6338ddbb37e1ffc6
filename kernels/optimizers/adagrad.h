#pragma once
// Adagrad as torch.optim.Adagrad computes it (_single_tensor_adagrad), t = step after increment:
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   clr = lr / (1 + (t - 1) * lr_decay)
//   sum += g^2                    (sum starts at initial_accumulator_value, set at construction)
//   p -= clr * g / (sqrt(sum) + eps)
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct AdagradOp {
  enum Slot { kLr, kLrDecay, kWeightDecay, kInitialAccumulatorValue, kEps };
  static constexpr int kNumFlags = 0;  // maximize is the engine's (NOTE(maximize))
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): all but the stochastic AMP kernel with fp32 masters, and (spilling 12-28 B for sm_90
  /// since the absent-gradient check, NOTE(absent-grad)) f16 with fp32 masters and the AMP
  /// kernel of bf16 with fp32 masters and bf16 state.
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return !(kStochastic && kUnscale && Layout<T>::kMaster) &&
           !std::is_same_v<T, Master<Half>> &&
           !(kUnscale && std::is_same_v<T, Bf16State<Master<BFloat16>>>);
  }

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

  static constexpr int kNumPasses = 3;
  static constexpr int kNumTemps = 1;  // the prepared gradient

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    const GradientSource grad{c.weight_decay};
    if constexpr (P == 0) {  // g = -grad + wd * p
      return grad.pass(e);
    } else if constexpr (P == 1) {  // sum.addcmul_(g, g)
      if (e) {
        const float g = grad.read(*e);
        e->s[0] += g * g;
      }
      return {state_list(0) | grad.list(), state_list(0)};
    } else {  // p.addcdiv_(g, sum.sqrt().add_(eps), -clr)
      if (e) e->p -= c.clr * grad.read(*e) / (std::sqrt(e->s[0]) + c.eps);
      return {kParamList | grad.list() | state_list(0), kParamList};
    }
  }
};

}  // namespace fusedopt::kernels
