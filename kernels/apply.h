#pragma once
// The multi-tensor engine's per-chunk body, shared by the CUDA kernel and the CPU executor.
//
// An optimizer is an `Op` functor (see sgd.h, adam.h) with:
//   static constexpr int kNumFlags;                       // mode bits in GroupScalars::flags
//   static constexpr bool kHasParamState;                 // uses StepScalars::param_state
//   struct Constants;                                     // per-block derived scalars (float)
//   static Constants prepare(const GroupScalars&, float step_before, double param_state);
//   static double next_param_state(const GroupScalars&, float step_before, double param_state);
//                                                         // (only when kHasParamState)
//   template <uint32_t Flags> static constexpr int num_states();
//   template <uint32_t Flags> static void update(float& p, float g, float* state,
//                                                const Constants&);
// `step_before` is the parameter's step count before this step (0 on the first step).
// Loads, stores and dtype conversion live here; the Op only does per-element math in float.
#include <cstdint>
#include <type_traits>

#include "config.h"
#include "dtype.h"
#include "plan.h"

namespace fusedopt::kernels {

/// N elements loaded and stored as one aligned vector.
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <class T, int N>
FUSEDOPT_HD bool is_vector_aligned(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr) % (sizeof(T) * N) == 0;
}

/// Calls f(std::integral_constant<uint32_t, flags>{}): runtime mode bits become template
/// arguments once per block (the branch is uniform across the block).
template <int kNumFlags, std::uint32_t kBits = 0, class F>
FUSEDOPT_HD void dispatch_flags(std::uint32_t flags, const F& f) {
  if constexpr (kBits < (1u << kNumFlags)) {
    if (flags == kBits) {
      f(std::integral_constant<std::uint32_t, kBits>{});
    } else {
      dispatch_flags<kNumFlags, kBits + 1>(flags, f);
    }
  }
}

/// Updates elements [begin, end) of one tensor. Thread `lane` of `stride` threads takes every
/// stride-th vector; vector loads when every list is aligned, a scalar path for the tail and
/// for unaligned tensors.
template <class Op, class T, std::uint32_t Flags>
FUSEDOPT_HD void update_range(const TensorEntry& t, std::int64_t begin, std::int64_t end,
                              const typename Op::Constants& c, int lane, int stride) {
  constexpr int kStates = Op::template num_states<Flags>();
  constexpr int kSlots = kStates > 0 ? kStates : 1;
  constexpr int kVec = vector_elements<T>();  // 16-byte parameter and gradient vectors
  T* p = static_cast<T*>(t.lists[0]) + begin;
  const T* g = static_cast<const T*>(t.lists[1]) + begin;
  float* s[kSlots] = {};
  for (int k = 0; k < kStates; ++k) s[k] = static_cast<float*>(t.lists[2 + k]) + begin;
  const std::int64_t n = end - begin;

  bool aligned = is_vector_aligned<T, kVec>(p) && is_vector_aligned<T, kVec>(g);
  for (int k = 0; k < kStates; ++k) aligned = aligned && is_vector_aligned<float, kVec>(s[k]);
  const std::int64_t vector_end = aligned ? n - n % kVec : 0;

  for (std::int64_t i = std::int64_t(lane) * kVec; i < vector_end; i += std::int64_t(stride) * kVec) {
    Pack<T, kVec> pv = *reinterpret_cast<const Pack<T, kVec>*>(p + i);
    const Pack<T, kVec> gv = *reinterpret_cast<const Pack<T, kVec>*>(g + i);
    Pack<float, kVec> sv[kSlots];
    for (int k = 0; k < kStates; ++k) sv[k] = *reinterpret_cast<const Pack<float, kVec>*>(s[k] + i);
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float pe = to_float(pv.v[e]);
      float se[kSlots];
      for (int k = 0; k < kStates; ++k) se[k] = sv[k].v[e];
      Op::template update<Flags>(pe, to_float(gv.v[e]), se, c);
      pv.v[e] = from_float<T>(pe);
      for (int k = 0; k < kStates; ++k) sv[k].v[e] = se[k];
    }
    *reinterpret_cast<Pack<T, kVec>*>(p + i) = pv;
    for (int k = 0; k < kStates; ++k) *reinterpret_cast<Pack<float, kVec>*>(s[k] + i) = sv[k];
  }
  for (std::int64_t i = vector_end + lane; i < n; i += stride) {
    float pe = to_float(p[i]);
    float se[kSlots];
    for (int k = 0; k < kStates; ++k) se[k] = s[k][i];
    Op::template update<Flags>(pe, to_float(g[i]), se, c);
    p[i] = from_float<T>(pe);
    for (int k = 0; k < kStates; ++k) s[k][i] = se[k];
  }
}

template <class Op, class T>
struct RangeUpdater {
  const TensorEntry& tensor;
  ChunkRange range;
  const typename Op::Constants& constants;
  int lane;
  int stride;
  template <std::uint32_t Flags>
  FUSEDOPT_HD void operator()(std::integral_constant<std::uint32_t, Flags>) const {
    update_range<Op, T, Flags>(tensor, range.begin, range.end, constants, lane, stride);
  }
};

/// The whole optimizer step for one chunk: read the group's scalars and the parameter's step
/// count, derive the constants, dispatch on the group's mode flags, update the range.
template <class Op, class T>
FUSEDOPT_HD void step_chunk(const PlanView& plan, const StepScalars& scalars, std::int64_t chunk,
                            int lane, int stride) {
  const ChunkRange range = chunk_range(plan, chunk);
  const TensorEntry& tensor = plan.tensors[range.tensor];
  const GroupScalars& group = scalars.groups[tensor.group];
  const typename Op::Constants constants =
      Op::prepare(group, scalars.steps[tensor.param], scalars.param_state[tensor.param]);
  dispatch_flags<Op::kNumFlags>(group.flags,
                                RangeUpdater<Op, T>{tensor, range, constants, lane, stride});
}

/// After every chunk of a step has run: advance tensor `t`'s per-parameter scalars (NOTE(step-count)).
template <class Op>
FUSEDOPT_HD void finish_param(const PlanView& plan, const StepScalars& scalars, std::int32_t t) {
  const TensorEntry& tensor = plan.tensors[t];
  const float before = scalars.steps[tensor.param];
  if constexpr (Op::kHasParamState)
    scalars.param_state[tensor.param] = Op::next_param_state(scalars.groups[tensor.group], before,
                                                             scalars.param_state[tensor.param]);
  scalars.steps[tensor.param] = before + 1.0f;
}

/// zero_grad for one chunk: writes T zeros to the gradient list.
template <class T>
FUSEDOPT_HD void zero_chunk(const PlanView& plan, std::int64_t chunk, int lane, int stride) {
  const ChunkRange range = chunk_range(plan, chunk);
  T* g = static_cast<T*>(plan.tensors[range.tensor].lists[1]) + range.begin;
  const std::int64_t n = range.end - range.begin;
  constexpr int kVec = vector_elements<T>();
  const std::int64_t vector_end = is_vector_aligned<T, kVec>(g) ? n - n % kVec : 0;
  const T zero = from_float<T>(0.0f);
  Pack<T, kVec> zeros;
  for (int e = 0; e < kVec; ++e) zeros.v[e] = zero;
  for (std::int64_t i = std::int64_t(lane) * kVec; i < vector_end; i += std::int64_t(stride) * kVec)
    *reinterpret_cast<Pack<T, kVec>*>(g + i) = zeros;
  for (std::int64_t i = vector_end + lane; i < n; i += stride) g[i] = zero;
}

}  // namespace fusedopt::kernels
