#pragma once
// Schedule-free AdamW (Defazio et al. 2024), as the reference package's AdamWScheduleFree
// (facebookresearch/schedule_free, schedulefree 1.4.1, adamw_schedulefree.py) computes it. The
// parameter holds y, the point the gradient is taken at; z is the base iterate; x, the
// average, is what eval() switches the parameter to. Per step, with the group's scalars the
// host derives from its schedule (NOTE(schedule-free-scalars) in host/optimizers/schedule_free.cpp):
//   z = p                                              (a parameter's first step: clone(p))
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2
//   denom = sqrt(exp_avg_sq / (1 - beta2^(k+1))) + eps
//   u = g / denom (+ weight_decay * y)                 (the reference writes u into p.grad)
//   y = lerp(y, z, ckp1);  y += lr * (beta1 * (1 - ckp1) - 1) * u;  z -= lr * u
// and the train()/eval() switch, p = lerp(p, z, w) with w = 1 - beta1 (to y) or 1 - 1/beta1
// (to x), for parameters that have state. Every operation is one fp32 rounding in the
// reference's order (its foreach path): in f32 the same float operations on the same values;
// an f16/bf16 y is rounded to its dtype once per step, not after each of its two updates.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels {

struct ScheduleFreeAdamWOp {
  // Slots the host writes before every step (NOTE(schedule-free-scalars)).
  enum Slot { kLr, kYCoefficient, kCkp1, kBeta2, kBiasCorrection2, kEps, kWeightDecay };
  static constexpr int kNumFlags = 0;
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): 512-thread blocks under 64 registers without spills (ptxas, sm_90):
  /// f32 parameters without AMP factors; the others take 72-96 registers at 256 threads.
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return std::is_same_v<T, float> && !kUnscale;
  }

  struct Constants {
    float lr;             // the scheduled lr: z -= lr * u
    float y_coefficient;  // lr * (beta1 * (1 - ckp1) - 1)
    float ckp1;
    float beta2, one_minus_beta2;
    float bias_correction2;  // 1 - beta2^(k+1)
    float eps, weight_decay;
    bool first;  // the parameter's first step: z starts as a copy of it
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    const double* h = group.hyper;
    return {float(h[kLr]),   float(h[kYCoefficient]),    float(h[kCkp1]),
            float(h[kBeta2]), float(1.0 - h[kBeta2]),    float(h[kBiasCorrection2]),
            float(h[kEps]),  float(h[kWeightDecay]),     step_before == 0.0f};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 2;  // z, exp_avg_sq
  }

  static constexpr int kNumPasses = 6;
  static constexpr int kNumTemps = 2;  // u, denom

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    if constexpr (P == 0) {  // state['z'] = torch.clone(p) on the first step
      // A pass on every step for Loop and Foreach (which passes run may not depend on the step
      // count, NOTE(passes)); in registers (Fused) it costs a select.
      if (e) e->s[0] = c.first ? e->p : e->s[0];
      return {kParamList | state_list(0), state_list(0)};
    } else if constexpr (P == 1) {  // exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
      if (e) e->s[1] = c.beta2 * e->s[1] + c.one_minus_beta2 * e->g * e->g;
      return {kGradList | state_list(1), state_list(1)};
    } else if constexpr (P == 2) {  // denom = exp_avg_sq.div(bias_correction2).sqrt_().add_(eps)
      if (e) e->t[1] = std::sqrt(e->s[1] / c.bias_correction2) + c.eps;
      return {state_list(1), kTemp1};
    } else if constexpr (P == 3) {  // u = grad / denom, then u.add_(y, alpha=weight_decay)
      if (e) {
        const float u = e->g / e->t[1];
        // A select, not u + 0 * y: with weight_decay 0 an infinite y must not turn u into NaN.
        e->t[0] = c.weight_decay != 0.0f ? u + c.weight_decay * e->p : u;
      }
      return {kGradList | kTemp1 | (c.weight_decay != 0.0f ? kParamList : 0u), kTemp0};
    } else if constexpr (P == 4) {
      // y.lerp_(z, ckp1); y.add_(u, alpha=lr * (beta1 * (1 - ckp1) - 1)). One pass: the
      // intermediate y is an fp32 value in every Impl, so an f16/bf16 parameter is rounded
      // once per step (the reference's two in-place ops round a bf16 y twice).
      if (e) {
        const float lerped = torch_lerp(e->p, e->s[0], c.ckp1);
        e->p = lerped + c.y_coefficient * e->t[0];
      }
      return {kParamList | state_list(0) | kTemp0, kParamList};
    } else {  // z.sub_(u, alpha=lr)
      if (e) e->s[0] = e->s[0] - c.lr * e->t[0];
      return {state_list(0) | kTemp0, state_list(0)};
    }
  }
};

/// AdamWScheduleFree.train() / eval(): p.lerp_(z, weight) for every parameter that has state
/// (has taken a step). Run over the optimizer's plan with its own group scalars and a scratch
/// copy of the step counts, so that nothing but the parameters changes
/// (NOTE(schedule-free-switch) in host/optimizers/schedule_free.cpp).
struct ScheduleFreeSwitchOp {
  enum Slot { kWeight };
  static constexpr int kNumFlags = 0;
  static constexpr bool kReadsGradients = false;  // NOTE(absent-grad): switches every parameter
  static constexpr bool kHasParamState = false;
  /// NOTE(launch-bounds): one lerp per element; 36-54 registers at 256 threads in every type.
  template <class T, bool kStochastic, bool kUnscale>
  static constexpr bool step_fits_64_registers() {
    return true;
  }

  struct Constants {
    float weight;
    bool has_state;
  };

  FUSEDOPT_HD static Constants prepare(const GroupScalars& group, float step_before, double) {
    return {float(group.hyper[kWeight]), step_before > 0.0f};
  }

  template <std::uint32_t Flags>
  static constexpr int num_states() {
    return 1;  // z (the step's state 0)
  }

  static constexpr int kNumPasses = 1;
  static constexpr int kNumTemps = 0;

  template <int P, std::uint32_t Flags>
  FUSEDOPT_HD static PassIO pass(const Constants& c, Element* e) {
    static_assert(P == 0);
    if (e) e->p = c.has_state ? torch_lerp(e->p, e->s[0], c.weight) : e->p;
    return {kParamList | state_list(0), kParamList};
  }
};

}  // namespace fusedopt::kernels
