#pragma once
// An optimizer as a sequence of elementwise passes, run three ways (NOTE(passes)).
//
// NOTE(passes): each functor writes its update once, as the sequence of elementwise passes
// torch's for-loop and foreach paths launch (a pass may merge ops torch chains in place on one
// tensor, e.g. exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2) is one pass). A pass reads and
// writes some of the element's lists (parameter, gradient, state tensors, two fp32
// temporaries) and declares which:
//   template <int P, uint32_t Flags>
//   static PassIO pass(const Constants& c, Element* e);   // e == nullptr: only report the IO
// Impl::Fused runs every pass on one element in registers (one launch, lists loaded and stored
// once); Impl::Foreach launches pass P once over all tensors, Impl::Loop once per tensor, and
// values travel between passes through memory, as in torch. Whether a pass runs (writes != 0)
// may depend on the flags and hyper-parameters but not on the step count, so the host can
// decide which passes to launch.
#include <cmath>
#include <cstdint>
#include <utility>

#include "kernels/engine/config.h"

namespace fusedopt::kernels {

/// Bit L names TensorEntry::lists[L].
enum ListBit : std::uint32_t {
  kParamList = 1u << 0,
  kGradList = 1u << 1,
  kState0 = 1u << 2,  // state tensor k is kState0 << k
  kTemp0 = 1u << 6,
  kTemp1 = 1u << 7,
};
constexpr int kGradListIndex = 1;  // the list kGradList names
constexpr int kFirstStateList = 2;
constexpr int kFirstTempList = 6;
constexpr int kMaxTemps = 2;

FUSEDOPT_HD constexpr std::uint32_t state_list(int k) { return kState0 << k; }

/// The lists one pass reads and writes (ListBit masks). writes == 0: the pass does not run.
struct PassIO {
  std::uint32_t reads = 0;
  std::uint32_t writes = 0;
};

/// One element's values in float: parameter, gradient, state tensors, temporaries.
struct Element {
  float p;
  float g;
  float s[kMaxStates];
  float t[kMaxTemps];
};

template <int kList>
FUSEDOPT_HD float& list_value(Element& e) {
  static_assert(kList >= 0 && kList < kMaxLists);
  if constexpr (kList == 0) return e.p;
  else if constexpr (kList == 1) return e.g;
  else if constexpr (kList < kFirstTempList) return e.s[kList - kFirstStateList];
  else return e.t[kList - kFirstTempList];
}

/// torch.lerp(start, end, weight) as torch computes it (and so exp_avg.lerp_(grad, 1 - beta1)):
/// the two-sided form, which turns an infinite average into NaN on the next finite gradient
/// (inf + w * (g - inf)) exactly as torch's for-loop and foreach paths do.
FUSEDOPT_HD float torch_lerp(float start, float end, float weight) {
  return std::fabs(weight) < 0.5f ? start + weight * (end - start)
                                  : end - (end - start) * (1.0f - weight);
}

/// torch's gradient preamble, g = grad + weight_decay * p, on the gradient as loaded (negated
/// for maximize already, NOTE(maximize)). When there is nothing to do the pass does not run and later passes read the gradient in place, as torch
/// reuses the grad tensor; otherwise the result lives in temporary 0.
struct GradientSource {
  float weight_decay;  // 0: no L2 term
  FUSEDOPT_HD bool in_temp() const { return weight_decay != 0.0f; }
  FUSEDOPT_HD std::uint32_t list() const { return in_temp() ? kTemp0 : kGradList; }
  FUSEDOPT_HD float read(const Element& e) const { return in_temp() ? e.t[0] : e.g; }
  /// The preamble as a pass. Branch-free on the element (selects, not jumps), so that the CPU
  /// executor's fused loop vectorizes; in registers the unused temporary costs nothing.
  FUSEDOPT_HD PassIO pass(Element* e) const {
    if (e) {
      // A select, not g + 0 * p: with weight_decay 0 an infinite p must not turn g into NaN.
      e->t[0] = weight_decay != 0.0f ? e->g + weight_decay * e->p : e->g;
    }
    if (!in_temp()) return {};
    return {kGradList | (weight_decay != 0.0f ? kParamList : 0u), kTemp0};
  }

  /// avg.lerp_(g, weight) on state tensor kState, as a pass (exp_avg, RMSprop's grad_avg).
  template <int kState>
  FUSEDOPT_HD PassIO lerp_pass(float weight, Element* e) const {
    if (e) e->s[kState] = torch_lerp(e->s[kState], read(*e), weight);
    return {state_list(kState) | list(), state_list(kState)};
  }
  /// avg.mul_(decay).addcmul_(g, g, 1 - decay) on state tensor kState, as a pass (exp_avg_sq,
  /// square_avg).
  template <int kState>
  FUSEDOPT_HD PassIO square_average_pass(float decay, float one_minus_decay, Element* e) const {
    if (e) {
      const float g = read(*e);
      e->s[kState] = decay * e->s[kState] + one_minus_decay * g * g;
    }
    return {state_list(kState) | list(), state_list(kState)};
  }
};

/// Decoupled decay then the update, p * (1 - decay) - update, with p rounded once
/// (NOTE(decoupled-decay)): p - (decay * p + update). An infinite p takes torch's two-step
/// result instead (inf * factor - update), where the one-rounding form would give inf - inf.
FUSEDOPT_HD float decay_then_subtract(float p, float decay, float factor, float update) {
  const bool infinite = std::fabs(p) > 3.402823466e38f;
  return infinite ? p * factor - update : p - (decay * p + update);
}

// Impl::Fused runs every pass on one element in registers: fused_update_stored in apply.h.

/// Calls f(std::integral_constant<int, pass>{}) for a runtime pass index.
template <int kNumPasses, int P = 0, class F>
FUSEDOPT_HD void dispatch_pass(int pass, const F& f) {
  if constexpr (P < kNumPasses) {
    if (pass == P) {
      f(std::integral_constant<int, P>{});
    } else {
      dispatch_pass<kNumPasses, P + 1>(pass, f);
    }
  }
}

template <class Op, std::uint32_t Flags>
struct PassIOQuery {
  const typename Op::Constants& constants;
  PassIO* io;
  template <int P>
  FUSEDOPT_HD void operator()(std::integral_constant<int, P>) const {
    *io = Op::template pass<P, Flags>(constants, nullptr);
  }
};

/// The IO of pass `pass` (runtime index) for the given flags and constants.
template <class Op, std::uint32_t Flags>
FUSEDOPT_HD PassIO pass_io(int pass, const typename Op::Constants& c) {
  PassIO io;
  dispatch_pass<Op::kNumPasses>(pass, PassIOQuery<Op, Flags>{c, &io});
  return io;
}

}  // namespace fusedopt::kernels
