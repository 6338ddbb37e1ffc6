#pragma once
// torch.optim.swa_utils.AveragedModel's update_parameters, over the pairs (averaged, param):
// list 0 is the averaged copy (written), list 1 the model's parameter (read). n = n_averaged
// before this update, the per-parameter double scalar state (an fp32 step count would stop
// at 2^24; torch keeps an int64):
//   n == 0: averaged = param
//   EMA (get_ema_multi_avg_fn):  averaged += (1 - decay) * (param - averaged)
//   SWA (default, running mean): averaged += (param - averaged) / (n + 1)
#include <cstdint>

#include "kernels/engine/config.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct AveragingOp {
  enum Slot { kDecay };
  enum Flag : std::uint32_t { kSWA = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = true;  // n_averaged
  /// NOTE(launch-bounds): the fused step kernels that fit 64 registers without spills (sm_80 and
  /// sm_90): every one.
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return true;
  }

  struct Constants {
    float ema_weight, swa_weight;
    std::uint32_t copy;  // 32-bit, not bool: NOTE(cpu-columns)
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float, double n_averaged) {
    return {float(1.0 - group.hyper[kDecay]), float(1.0 / (n_averaged + 1.0)), n_averaged == 0.0};
  }

  FUSEDOPT_HD static double next_param_state(const GroupScalars&, float, double n_averaged) {
    return n_averaged + 1.0;
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 0;
  }

  static constexpr int kNumPasses = 2;
  static constexpr int kNumTemps = 1;  // SWA: param - averaged

  // List 0 (the "parameter") is the averaged copy, list 1 (the "gradient") the model's
  // parameter; torch's foreach path is _foreach_lerp_ (EMA) or _foreach_sub then
  // _foreach_addcdiv_ (SWA).
  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    constexpr bool kIsSWA = Flags & kSWA;
    if constexpr (P == 0) {  // SWA: diff = param - averaged
      if constexpr (!kIsSWA) return {};
      if (e) e->t[0] = e->g - e->p;
      return {kParamList | kGradList, kTemp0};
    } else {  // averaged = param on the first update, else averaged += weight * diff
      if (e) {
        const float diff = kIsSWA ? e->t[0] : e->g - e->p;
        const float weight = kIsSWA ? c.swa_weight : c.ema_weight;
        e->p = c.copy ? e->g : e->p + weight * diff;  // a select: the CPU loop vectorizes
      }
      if (c.copy) return {kGradList, kParamList};
      return {kParamList | (kIsSWA ? kTemp0 : kGradList), kParamList};
    }
  }
};

}  // namespace fusedopt::kernels
