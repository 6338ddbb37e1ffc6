#pragma once
// torch.optim.swa_utils.AveragedModel's update_parameters, over the pairs (averaged, param):
// list 0 is the averaged copy (written), list 1 the model's parameter (read). n = n_averaged,
// the step count before this update:
//   n == 0: averaged = param
//   EMA (get_ema_multi_avg_fn):  averaged += (1 - decay) * (param - averaged)
//   SWA (default, running mean): averaged += (param - averaged) / (n + 1)
#include <cstdint>

#include "config.h"
#include "plan.h"

namespace fusedopt::kernels {

struct AveragingOp {
  enum Slot { kDecay };
  enum Flag : std::uint32_t { kSWA = 1 };
  static constexpr int kNumFlags = 1;
  static constexpr bool kHasParamState = false;

  struct Constants {
    float ema_weight, swa_weight;
    bool copy;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float n_averaged, double) {
    return {float(1.0 - group.hyper[kDecay]), float(1.0 / (double(n_averaged) + 1.0)),
            n_averaged == 0.0f};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 0;
  }

  template <std::uint32_t Flags>
  FUSEDOPT_HD static void update(float& averaged, float param, float*, const Constants& c) {
    if (c.copy) {
      averaged = param;
    } else {
      const float weight = (Flags & kSWA) ? c.swa_weight : c.ema_weight;
      averaged += weight * (param - averaged);
    }
  }
};

}  // namespace fusedopt::kernels
