#pragma once
// The multi-tensor engine's per-chunk body, shared by the CUDA kernels and the CPU executor.
//
// An optimizer is an `Op` functor (see sgd.h, adam.h) with:
//   static constexpr int kNumFlags;                       // mode bits in GroupScalars::flags
//   static constexpr bool kHasParamState;                 // uses StepScalars::param_state
//   static constexpr int kNumPasses, kNumTemps;           // NOTE(passes) in passes.h
//   struct Constants;                                     // per-block derived scalars (float)
//   static Constants prepare(const GroupScalars&, float step_before, double param_state);
//   static double next_param_state(const GroupScalars&, float step_before, double param_state);
//                                                         // (only when kHasParamState)
//   template <uint32_t Flags> static constexpr int num_states();
//   template <int P, uint32_t Flags> static PassIO pass(const Constants&, Element*);
// `step_before` is the parameter's step count before this step (0 on the first step).
// Loads, stores and dtype conversion live here; the Op only does per-element math in float.
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/engine/config.h"
#include "kernels/engine/cpu_isa.h"
#include "kernels/engine/dtype.h"
#include "kernels/engine/passes.h"
#include "kernels/engine/plan.h"
#include "kernels/engine/rounding.h"

namespace fusedopt::kernels {

/// N elements loaded and stored as one aligned vector.
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// NOTE(vector-access): a Pack moves as 16-byte words (one LDG.E.128 / STG.E.128 each; a
// 32-byte state pack is two). On the device the words are CUDA's uint4, and the pointer is
// declared global (__builtin_assume(__isGlobal(p))): the plan's pointers are generic, and a
// plain dereference compiles to generic LD.E / ST.E (__ldca / __stwb would give global but
// .STRONG.SM accesses). The Pack is copied in and out of the words by memcpy, since a copy of
// the struct of T[N] is split into scalar loads. scripts/kernel_report.sh shows the result.
template <class T, int N>
FUSEDOPT_HD Pack<T, N> load_pack(const T* src) {
#if defined(__CUDA_ARCH__)
  static_assert(sizeof(Pack<T, N>) % sizeof(uint4) == 0, "packs are whole 16-byte words");
  constexpr int kWords = int(sizeof(Pack<T, N>) / sizeof(uint4));
  uint4 words[kWords];
  __builtin_assume(__isGlobal(src));  // global-space LDG.E.128, not generic LD.E.128
#pragma unroll
  for (int w = 0; w < kWords; ++w) words[w] = reinterpret_cast<const uint4*>(src)[w];
  Pack<T, N> out;
  memcpy(&out, words, sizeof out);
  return out;
#else
  return *reinterpret_cast<const Pack<T, N>*>(src);
#endif
}

template <class T, int N>
FUSEDOPT_HD void store_pack(T* dst, const Pack<T, N>& value) {
#if defined(__CUDA_ARCH__)
  constexpr int kWords = int(sizeof(Pack<T, N>) / sizeof(uint4));
  uint4 words[kWords];
  memcpy(words, &value, sizeof words);
  __builtin_assume(__isGlobal(dst));
#pragma unroll
  for (int w = 0; w < kWords; ++w) reinterpret_cast<uint4*>(dst)[w] = words[w];
#else
  *reinterpret_cast<Pack<T, N>*>(dst) = value;
#endif
}

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

/// NOTE(amp): a gradient divided by the loss scale, only when there is one (as torch's fused
/// kernels): g / 1 == g, but the device's division would canonicalize a NaN's bits
/// (NOTE(nan-bits)). The branch is uniform across a launch. Then the clipping factor
/// (NOTE(clip)) and maximize's sign (NOTE(maximize)).
FUSEDOPT_HD float unscale(float g, GradFactors factors) {
  if (factors.divisor != 1.0f) g = g / factors.divisor;
  if (factors.multiplier != 1.0f) g = g * factors.multiplier;
  return apply_sign(g, factors.sign);
}

/// The storage type of list kList for a segment of storage T (NOTE(master-weights)): list 0
/// holds Layout<T>::Value, the gradient the parameters' dtype, state and temporaries float.
template <class T, int kList>
using StoredType = std::conditional_t<
    kList == 0, typename Layout<T>::Value,
    std::conditional_t<kList == 1, typename Layout<T>::Model,
                       std::conditional_t<(kList < kFirstTempList), typename Layout<T>::State,
                                          float>>>;

/// Elements per vector of a segment: 16 bytes of parameters and gradients.
template <class T>
constexpr int segment_vector() {
  return vector_elements<typename Layout<T>::Model>();
}

/// True when a segment of storage T stores bf16 (parameters or state): only its kernels have a
/// stochastic-rounding variant (NOTE(stochastic-rounding)).
template <class T>
constexpr bool stores_bf16() {
  return std::is_same_v<typename Layout<T>::Value, BFloat16> ||
         std::is_same_v<typename Layout<T>::State, BFloat16>;
}

/// The rounding of tensor `t`'s stores this step (NOTE(stochastic-rounding)). kStochastic
/// false: the caller (a CUDA kernel for segments without stochastic rounding) rounds to nearest
/// whatever the group says, and the compiler drops the stochastic path and its registers.
template <bool kStochastic = true>
FUSEDOPT_HD Rounding rounding_of(const GroupScalars& group, const StepScalars& s,
                                 const TensorEntry& t) {
  Rounding r;
  r.stochastic = kStochastic && (group.modes & kStochasticRounding) != 0;
  r.key[0] = group.seed[0];
  r.key[1] = group.seed[1];
  r.param = std::uint32_t(t.param);
  r.step = std::uint32_t(s.steps[t.param]);
  return r;
}

/// Impl::Fused keeps a list stored narrower than float (a bf16 parameter, bf16 state) exactly
/// as Impl::Loop and Impl::Foreach see it: after each pass that writes it, it is rounded in
/// registers where a later pass reads it (as the store between passes rounds it), so every Impl
/// computes the same bits; the final store rounds the same way (exact for a value rounded
/// already). after[P]: the lists to round after pass P, computed once per range.
template <class Op>
struct InRegisterRounding {
  std::uint32_t after[Op::kNumPasses];
};

template <class Op, std::uint32_t Flags, class T, int... P>
FUSEDOPT_HD InRegisterRounding<Op> in_register_rounding(const typename Op::Constants& c,
                                                        std::integer_sequence<int, P...>) {
  using V = typename Layout<T>::Value;
  using S = typename Layout<T>::State;
  constexpr int kPasses = int(sizeof...(P));
  const PassIO io[kPasses] = {Op::template pass<P, Flags>(c, nullptr)...};
  std::uint32_t narrow = 0;  // the lists stored narrower than float
  if (!std::is_same_v<V, float>) narrow |= kParamList;
  if (!std::is_same_v<S, float>)
    for (int k = 0; k < kMaxStates; ++k) narrow |= state_list(k);
  InRegisterRounding<Op> out{};
  std::uint32_t read_later = 0;  // lists some later pass reads
  for (int pass = kPasses - 1; pass >= 0; --pass) {
    out.after[pass] = io[pass].writes & read_later & narrow;
    read_later |= io[pass].reads;
  }
  return out;
}

template <class Op, std::uint32_t Flags, class T>
FUSEDOPT_HD InRegisterRounding<Op> in_register_rounding(const typename Op::Constants& c) {
  return in_register_rounding<Op, Flags, T>(c, std::make_integer_sequence<int, Op::kNumPasses>{});
}

/// Pass kPass of the fused update, then the in-register rounding after it. A function, not a
/// lambda, so that it is always inlined (FUSEDOPT_HD) and the CPU loop vectorizes.
template <class Op, std::uint32_t Flags, class T, int kPass>
FUSEDOPT_HD void run_pass_stored(Element& e, const typename Op::Constants& c,
                                 const InRegisterRounding<Op>& rounding, const Rounding& r,
                                 std::int64_t element) {
  using V = typename Layout<T>::Value;
  using S = typename Layout<T>::State;
  Op::template pass<kPass, Flags>(c, &e);
  const std::uint32_t round = rounding.after[kPass];
  if constexpr (!std::is_same_v<V, float>)
    if (round & kParamList) e.p = round_in_register<V>(e.p, r, element, 0);
  if constexpr (!std::is_same_v<S, float>)
    for (int k = 0; k < kMaxStates; ++k)
      if (round & state_list(k))
        e.s[k] = round_in_register<S>(e.s[k], r, element, kFirstStateList + k);
}

template <class Op, std::uint32_t Flags, class T, int... P>
FUSEDOPT_HD void run_passes_stored(Element& e, const typename Op::Constants& c,
                                   const InRegisterRounding<Op>& rounding, const Rounding& r,
                                   std::int64_t element, std::integer_sequence<int, P...>) {
  using V = typename Layout<T>::Value;
  using S = typename Layout<T>::State;
  if constexpr (std::is_same_v<V, float> && std::is_same_v<S, float>) {
    (Op::template pass<P, Flags>(c, &e), ...);
  } else {
    (run_pass_stored<Op, Flags, T, P>(e, c, rounding, r, element), ...);
  }
}

template <class Op, std::uint32_t Flags, class T>
FUSEDOPT_HD void fused_update_stored(Element& e, const typename Op::Constants& c,
                                     const InRegisterRounding<Op>& rounding, const Rounding& r,
                                     std::int64_t element) {
  run_passes_stored<Op, Flags, T>(e, c, rounding, r, element,
                                  std::make_integer_sequence<int, Op::kNumPasses>{});
}

#if !defined(__CUDA_ARCH__)
/// f(std::integral_constant<int, k>{}) for k in [0, N): unrolled in the source, since GCC leaves
/// some short loops in the CPU loop's body rolled, and a loop nest does not vectorize.
template <int N, class F, int... K>
FUSEDOPT_CPU_LOOP void for_each_index(const F& f, std::integer_sequence<int, K...>) {
  (f(std::integral_constant<int, K>{}), ...);
}
template <int N, class F>
FUSEDOPT_CPU_LOOP void for_each_index(const F& f) {
  for_each_index<N>(f, std::make_integer_sequence<int, N>{});
}

/// A list stored narrower than float, as the CPU loop keeps it after a pass (NOTE(cpu-columns)):
/// rounded when the pass changed it. Where the pass does not write the list, the compiler sees
/// `after` is `before` and drops the rounding; where it does, the select is one compare and one
/// blend. A value the pass left unchanged was loaded from its narrow storage or rounded after
/// an earlier pass, so it needs no rounding: the bits are those of fused_update_stored.
template <class V>
FUSEDOPT_CPU_LOOP float round_if_changed(float before, float after, const Rounding& r,
                                         std::int64_t element, int list) {
  return float_bits(after) == float_bits(before) ? after
                                                 : round_in_register<V>(after, r, element, list);
}

/// Whether the CPU loop keeps state stored as X rounded in its column after the last pass too,
/// so that its store only drops the low half (UpdateRangeLoop::narrow; its NaNs are quieted
/// on load, UpdateRangeLoop::widen): bf16 to nearest. A
/// state is mostly written before the last pass and so already rounded there: its store's
/// rounding was redundant work (7% of bf16 Adam's instructions with bf16 state, AVX2 count).
/// Parameters (always written by the last pass) and f16 round on store.
template <class X>
constexpr bool kRoundsInColumn = std::is_same_v<X, BFloat16>;

/// The CPU loop's fused_update_stored for rounding to nearest (NOTE(cpu-columns)). Its masks
/// (InRegisterRounding) are runtime values, and GCC 12 vectorizes no loop that selects on them;
/// here what a pass writes is what the compiler sees it write. After the last pass only bf16
/// state is rounded (kRoundsInColumn); the other stores round.
template <class Op, std::uint32_t Flags, class T, int... P>
FUSEDOPT_CPU_LOOP void fused_update_round_changed(Element& e, const typename Op::Constants& c,
                                                  const Rounding& r, std::int64_t element,
                                                  std::integer_sequence<int, P...>) {
  using V = typename Layout<T>::Value;
  using S = typename Layout<T>::State;
  constexpr int kStates = Op::template num_states<Flags>();
  const auto pass = [&](auto pass_index) {
    constexpr int kPass = decltype(pass_index)::value;
    const Element before = e;
    Op::template pass<kPass, Flags>(c, &e);
    constexpr bool kLast = kPass + 1 == Op::kNumPasses;
    if constexpr (!std::is_same_v<V, float> && !kLast)
      e.p = round_if_changed<V>(before.p, e.p, r, element, 0);
    if constexpr (!std::is_same_v<S, float> && (!kLast || kRoundsInColumn<S>))
      for_each_index<kStates>([&](auto k) {
        e.s[k] = round_if_changed<S>(before.s[k], e.s[k], r, element, kFirstStateList + k);
      });
  };
  (pass(std::integral_constant<int, P>{}), ...);
}
#endif

/// NOTE(block-constants): what one block of a fused step derives from the device scalars
/// before its math: the Op's constants (Op::prepare, double pow for bias corrections), the
/// gradient factors (NOTE(amp), NOTE(clip)) and the rounding (NOTE(stochastic-rounding)). On the
/// device thread 0 computes them once into shared memory after every thread has issued its
/// first data loads (update_range), instead of every thread recomputing them; the emulated
/// device computes them once per emulated block. Only thread 0 reads the step count.
template <class Op>
struct BlockConstants {
  typename Op::Constants c;
  GradFactors factors;
  Rounding rounding;
};

template <class Op, bool kStochastic, bool kUnscale>
FUSEDOPT_HD BlockConstants<Op> block_constants(const StepScalars& s, const TensorEntry& t) {
  const GroupScalars& group = s.groups[t.group];
  BlockConstants<Op> out;
  out.c = Op::prepare(group, s.steps[t.param], s.param_state[t.param]);
  out.factors = kUnscale ? grad_factors(s, group) : GradFactors{};
  out.rounding = rounding_of<kStochastic>(group, s, t);
  return out;
}

// NOTE(launch-bounds): every fused step kernel is compiled for at least two blocks per SM, so
// that one block's start (its constants, NOTE(block-constants), and first loads) and its tail
// overlap another block's streaming. The block size is a compile-time constant of the kernel,
// which it passes as the stride of update_range: a constant stride took AdamW f32 from a 4 B
// spill to none under 64 registers, and SGD f32 with AMP from 40 B.
// - 512 threads, __launch_bounds__(512, 2), at most 64 registers, where the Op says its kernel
//   for (T, kStochastic, kUnscale) fits them without spills for sm_80 and sm_90
//   (Op::step_fits_64_registers<T, kStochastic, kUnscale>(), chosen from a ptxas sweep of
//   every step kernel under the cap: 111 of 248 kernels). CI's build fails on any spill
//   (-warn-spills as an error), and scripts/kernel_report.sh --check too.
// - 256 threads, __launch_bounds__(256, 2), at most 128 registers (what one 512-thread block
//   per SM allowed before, so the same code per thread) for the others, where the 64-register
//   cap spilled: Adam and AdamW with 2-byte parameters (8-element vectors, two or three moment
//   vectors, ten constants: 8-774 B), NAdam and RAdam in most types, most AMP kernels with
//   bf16 or f16 parameters. Two such blocks hold as many threads as one of 512.
template <class Op, class T, bool kStochastic, bool kUnscale, class = void>
struct StepFits64Registers : std::false_type {};
template <class Op, class T, bool kStochastic, bool kUnscale>
struct StepFits64Registers<
    Op, T, kStochastic, kUnscale,
    std::void_t<decltype(Op::template step_fits_64_registers<T, kStochastic, kUnscale>())>>
    : std::integral_constant<bool,
                             Op::template step_fits_64_registers<T, kStochastic, kUnscale>()> {};

/// NOTE(launch-bounds): threads per block of the fused step kernel; the emulated device runs
/// as many lanes.
template <class Op, class T, bool kStochastic, bool kUnscale>
constexpr int step_threads() {
  return StepFits64Registers<Op, T, kStochastic, kUnscale>::value ? kThreads : kThreads / 2;
}

/// NOTE(in-flight): vector iterations each thread of a fused step kernel keeps in flight: both
/// iterations' loads are issued before the math of either. Two only where the registers allow
/// it without spills (measured with ptxas for sm_90, bench/results/kernel-report-sm90.md): f32
/// parameters and gradients, fp32 state and at most one state tensor, no AMP/clip factors
/// (SGD, Lion, Adagrad f32 stay at 54-56 registers, two blocks per SM). Everywhere else one
/// vector is in flight, as before: with two, SGD momentum in bf16 spilled 176 B under the
/// 64-register cap of two blocks per SM (NOTE(launch-bounds)), and one vector in each of two
/// blocks keeps as many bytes in flight per SM as two vectors in one block.
template <class Op, class T, std::uint32_t Flags, bool kUnscale, bool kStochastic>
constexpr int fused_in_flight() {
  using M = typename Layout<T>::Model;
  using S = typename Layout<T>::State;
  return std::is_same_v<M, float> && !Layout<T>::kMaster && std::is_same_v<S, float> &&
                 Op::template num_states<Flags>() <= 1 && !kUnscale && !kStochastic
             ? 2
             : 1;
}

/// One vector of every list a fused update reads.
template <class T, int kVec, int kSlots>
struct FusedVectors {
  Pack<typename Layout<T>::Value, kVec> p;
  Pack<typename Layout<T>::Model, kVec> g;
  Pack<typename Layout<T>::State, kVec> s[kSlots];
};

/// Impl::Fused on the device (and the emulated device): updates elements [begin, end) of one
/// tensor with every pass in registers. Thread `lane` of `stride` threads takes every
/// stride-th vector, fused_in_flight of them at a time (NOTE(in-flight)); vector loads when
/// every list is aligned, a scalar path for the tail and for unaligned tensors. `prepare()`
/// returns the BlockConstants; every thread calls it exactly once, after issuing its first
/// loads (NOTE(block-constants)). The tensor entry is a copy in registers and the list pointers
/// restrict-qualified locals: no store through one list can change another or the entry.
template <class Op, class T, std::uint32_t Flags, bool kUnscale, bool kStochastic, class Prepare>
FUSEDOPT_HD void update_range(const TensorEntry t, std::int64_t begin, std::int64_t end,
                              const Prepare& prepare, int lane, int stride) {
  using M = typename Layout<T>::Model;
  using V = typename Layout<T>::Value;
  using S = typename Layout<T>::State;
  constexpr bool kMaster = Layout<T>::kMaster;
  constexpr int kStates = Op::template num_states<Flags>();
  constexpr int kSlots = kStates > 0 ? kStates : 1;
  constexpr int kVec = segment_vector<T>();  // 16-byte parameter and gradient vectors
  constexpr int kInFlight = fused_in_flight<Op, T, Flags, kUnscale, kStochastic>();
  V* __restrict__ const p = static_cast<V*>(t.lists[0]) + begin;
  M* __restrict__ const model = kMaster ? static_cast<M*>(t.model) + begin : nullptr;
  const M* __restrict__ const g = static_cast<const M*>(t.lists[1]) + begin;
  S* __restrict__ s[kSlots] = {};
  for (int k = 0; k < kStates; ++k) s[k] = static_cast<S*>(t.lists[2 + k]) + begin;
  const std::int64_t n = end - begin;

  bool aligned = is_vector_aligned<V, kVec>(p) && is_vector_aligned<M, kVec>(g);
  if (kMaster) aligned = aligned && is_vector_aligned<M, kVec>(model);
  for (int k = 0; k < kStates; ++k) aligned = aligned && is_vector_aligned<S, kVec>(s[k]);
  const std::int64_t vector_end = aligned ? n - n % kVec : 0;
  const std::int64_t step = std::int64_t(stride) * kVec;

  FusedVectors<T, kVec, kSlots> v[kInFlight] = {};  // each read only after its load
  const auto load = [&](std::int64_t at) {
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) {
      const std::int64_t i = at + j * step;
      if (i < vector_end) {
        v[j].p = load_pack<V, kVec>(p + i);
        v[j].g = load_pack<M, kVec>(g + i);
#pragma unroll
        for (int k = 0; k < kStates; ++k) v[j].s[k] = load_pack<S, kVec>(s[k] + i);
      }
    }
  };
  std::int64_t i0 = std::int64_t(lane) * kVec;
  load(i0);  // the first loads go out before the block's constants are ready

  const BlockConstants<Op>& block = prepare();
  const typename Op::Constants c = block.c;
  const GradFactors factors = block.factors;
  Rounding r = block.rounding;
  if constexpr (!kStochastic) r.stochastic = false;  // known here: no Philox path
  const InRegisterRounding<Op> in_registers = in_register_rounding<Op, Flags, T>(c);

  for (; i0 < vector_end; i0 += kInFlight * step) {
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) {
      const std::int64_t i = i0 + j * step;
      if (i >= vector_end) break;
      FusedVectors<T, kVec, kSlots>& x = v[j];
      Pack<M, kVec> mv;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        Element y{};
        y.p = to_float(x.p.v[e]);
        y.g = to_float(x.g.v[e]);
        if constexpr (kUnscale) y.g = unscale(y.g, factors);
#pragma unroll
        for (int k = 0; k < kStates; ++k) y.s[k] = to_float(x.s[k].v[e]);
        fused_update_stored<Op, Flags, T>(y, c, in_registers, r, begin + i + e);
        x.p.v[e] = round_store<V>(y.p, r, begin + i + e, 0);
        if constexpr (kMaster) mv.v[e] = from_float<M>(y.p);
#pragma unroll
        for (int k = 0; k < kStates; ++k)
          x.s[k].v[e] = round_store<S>(y.s[k], r, begin + i + e, kFirstStateList + k);
      }
      store_pack<V, kVec>(p + i, x.p);
      if constexpr (kMaster) store_pack<M, kVec>(model + i, mv);
#pragma unroll
      for (int k = 0; k < kStates; ++k) store_pack<S, kVec>(s[k] + i, x.s[k]);
    }
    load(i0 + kInFlight * step);
  }
  for (std::int64_t i = vector_end + lane; i < n; i += stride) {
    Element x{};
    x.p = to_float(p[i]);
    x.g = to_float(g[i]);
    if constexpr (kUnscale) x.g = unscale(x.g, factors);
    for (int k = 0; k < kStates; ++k) x.s[k] = to_float(s[k][i]);
    fused_update_stored<Op, Flags, T>(x, c, in_registers, r, begin + i);
    p[i] = round_store<V>(x.p, r, begin + i, 0);
    if constexpr (kMaster) model[i] = from_float<M>(x.p);
    for (int k = 0; k < kStates; ++k) s[k][i] = round_store<S>(x.s[k], r, begin + i, kFirstStateList + k);
  }
}

/// A Prepare for update_range whose constants are already computed (the CPU executor's
/// fallback for stride > 1).
template <class Op>
struct ReadyConstants {
  const BlockConstants<Op>& block;
  FUSEDOPT_HD const BlockConstants<Op>& operator()() const { return block; }
};

#if !defined(__CUDA_ARCH__)
/// The CPU executor's Impl::Fused range update: a plain element loop that the compiler
/// vectorizes (every pass is branch-free on the element; see NOTE(passes)), compiled for each
/// instruction-set level (NOTE(cpu-isa)).
/// kStochastic false: rounding to nearest, known at compile time (no Philox in the loop).
///
/// NOTE(cpu-columns): a segment that stores anything narrower than float (bf16/f16 parameters,
/// gradients or state) is updated in blocks of kColumn elements: one loop widens each list
/// into a float column (in L1), one runs the passes on the columns, one rounds and stores them.
/// In a single loop mixing 16-bit loads with float math GCC 12 vectorizes nothing as soon as
/// a select has a loop-invariant condition (weight_decay != 0, SGD's first step): it cannot
/// give the 16-bit and 32-bit lanes one mask, and leaves the whole loop scalar (bf16 SGD
/// momentum with bf16 state ran ~9x slower than f32). The math loop on float columns
/// vectorizes as the f32 one does; scripts/cpu_vector_report.py checks every dispatched loop.
/// Each element still goes through the same operations in the same order: the bits are those
/// of the single loop (CpuIsaTest, and the Loop/Foreach comparisons).
template <class Op, class T, std::uint32_t Flags, bool kUnscale, bool kStochastic>
struct UpdateRangeLoop {
  using M = typename Layout<T>::Model;
  using V = typename Layout<T>::Value;
  using S = typename Layout<T>::State;
  static constexpr bool kMaster = Layout<T>::kMaster;
  static constexpr int kStates = Op::template num_states<Flags>();
  static constexpr bool kAllFloat =
      std::is_same_v<V, float> && std::is_same_v<M, float> && std::is_same_v<S, float>;
  static constexpr int kColumn = 512;  // (2 + states) x 2 KB of columns: well inside L1

  static FUSEDOPT_CPU_LOOP void run(const TensorEntry& t, std::int64_t begin, std::int64_t end,
                                    const typename Op::Constants& constants, GradFactors factors,
                                    const Rounding& rounding) {
    // Local copies: stores through the float lists cannot alias them, so their fields stay
    // loop-invariant and the loop is unswitched and vectorized.
    const typename Op::Constants c = constants;
    Rounding r = rounding;
    if constexpr (!kStochastic) r.stochastic = false;
    const InRegisterRounding<Op> in_registers = in_register_rounding<Op, Flags, T>(c);
    V* p = static_cast<V*>(t.lists[0]) + begin;
    M* model = kMaster ? static_cast<M*>(t.model) + begin : nullptr;
    const M* g = static_cast<const M*>(t.lists[1]) + begin;
    S* s[kMaxStates] = {};
    for (int k = 0; k < kStates; ++k) s[k] = static_cast<S*>(t.lists[2 + k]) + begin;
    S* s0 = s[0];
    S* s1 = s[1];
    S* s2 = s[2];
    S* s3 = s[3];
    const std::int64_t n = end - begin;
    if constexpr (kAllFloat) {
      for (std::int64_t i = 0; i < n; ++i) {
        Element x{};
        x.p = p[i];
        x.g = g[i];
        if constexpr (kUnscale) x.g = unscale(x.g, factors);  // a separate loop when identity
        if constexpr (kStates > 0) x.s[0] = s0[i];
        if constexpr (kStates > 1) x.s[1] = s1[i];
        if constexpr (kStates > 2) x.s[2] = s2[i];
        if constexpr (kStates > 3) x.s[3] = s3[i];
        fused_update_stored<Op, Flags, T>(x, c, in_registers, r, begin + i);
        p[i] = x.p;
        if constexpr (kStates > 0) s0[i] = x.s[0];
        if constexpr (kStates > 1) s1[i] = x.s[1];
        if constexpr (kStates > 2) s2[i] = x.s[2];
        if constexpr (kStates > 3) s3[i] = x.s[3];
      }
    } else {
      alignas(64) float cp[kColumn];
      alignas(64) float cg[kColumn];
      alignas(64) float cs[kStates > 0 ? kStates : 1][kColumn];
      for (std::int64_t i0 = 0; i0 < n; i0 += kColumn) {
        const int m = int(min_of<std::int64_t>(kColumn, n - i0));
        for (int e = 0; e < m; ++e) cp[e] = to_float(p[i0 + e]);
        for (int e = 0; e < m; ++e) cg[e] = to_float(g[i0 + e]);
        if (!factors.identity())  // its own loop: no kUnscale instance for narrow segments
          for (int e = 0; e < m; ++e) cg[e] = unscale(cg[e], factors);
        if constexpr (kStates > 0) widen(s0 + i0, cs[0], m);
        if constexpr (kStates > 1) widen(s1 + i0, cs[1], m);
        if constexpr (kStates > 2) widen(s2 + i0, cs[2], m);
        if constexpr (kStates > 3) widen(s3 + i0, cs[3], m);
        const std::int64_t first = begin + i0;
        for (int e = 0; e < m; ++e) {
          Element x{};
          x.p = cp[e];
          x.g = cg[e];
          for_each_index<kStates>([&](auto k) { x.s[k] = cs[k][e]; });
          if constexpr (kStochastic)
            fused_update_stored<Op, Flags, T>(x, c, in_registers, r, first + e);
          else
            fused_update_round_changed<Op, Flags, T>(
                x, c, r, first + e, std::make_integer_sequence<int, Op::kNumPasses>{});
          cp[e] = x.p;
          for_each_index<kStates>([&](auto k) { cs[k][e] = x.s[k]; });
        }
        for (int e = 0; e < m; ++e) p[i0 + e] = round_store<V>(cp[e], r, first + e, 0);
        if constexpr (kMaster)
          for (int e = 0; e < m; ++e) model[i0 + e] = from_float<M>(cp[e]);
        if constexpr (kStates > 0) narrow(cs[0], s0 + i0, m, r, first, kFirstStateList + 0);
        if constexpr (kStates > 1) narrow(cs[1], s1 + i0, m, r, first, kFirstStateList + 1);
        if constexpr (kStates > 2) narrow(cs[2], s2 + i0, m, r, first, kFirstStateList + 2);
        if constexpr (kStates > 3) narrow(cs[3], s3 + i0, m, r, first, kFirstStateList + 3);
      }
    }
  }

  /// A bf16 state kept rounded in its column (kRoundsInColumn) loads with its NaNs quieted, so
  /// that every column value is exact in bf16 and quiet: loaded, or rounded
  /// (round_in_register quiets) after the pass that changed it. Quieting on load changes no
  /// arithmetic result (an operation returns the quieted NaN of a signalling input); a NaN
  /// passed through unchanged is stored quieted either way, as round_store stores it.
  static FUSEDOPT_CPU_LOOP void widen(const S* src, float* column, int m) {
    if constexpr (!kStochastic && kRoundsInColumn<S>)
      for (int e = 0; e < m; ++e) {
        const std::uint32_t b = src[e].bits;
        const std::uint32_t quiet = (b & 0x7fffu) > 0x7f80u ? 0x40u : 0u;
        column[e] = bits_float((b | quiet) << 16);
      }
    else
      for (int e = 0; e < m; ++e) column[e] = to_float(src[e]);
  }
  /// So its store keeps the high half: from_float's rounding would add nothing, and these are
  /// round_store's bits. Other lists round on store.
  static FUSEDOPT_CPU_LOOP void narrow(const float* column, S* dst, int m, const Rounding& r,
                                       std::int64_t first, int list) {
    if constexpr (!kStochastic && kRoundsInColumn<S>)
      for (int e = 0; e < m; ++e) dst[e] = {std::uint16_t(float_bits(column[e]) >> 16)};
    else
      for (int e = 0; e < m; ++e) dst[e] = round_store<S>(column[e], r, first + e, list);
  }
};

/// The loop for one range, at the active instruction-set level. Fewer instances than flags
/// (each costs compile time three times over): segments narrower than float unscale inside
/// the kUnscale=false loop (NOTE(cpu-columns)), and stochastic rounding, whose Philox rounds
/// stay scalar, runs the baseline loop only.
template <class Op, class T, std::uint32_t Flags, bool kStochastic>
void update_range_cpu(const TensorEntry& t, std::int64_t begin, std::int64_t end,
                      const typename Op::Constants& constants, GradFactors factors,
                      const Rounding& rounding) {
  if constexpr (kStochastic) {
    UpdateRangeLoop<Op, T, Flags, false, true>::run(t, begin, end, constants, factors, rounding);
  } else if constexpr (!UpdateRangeLoop<Op, T, Flags, false, false>::kAllFloat) {
    run_cpu_loop<UpdateRangeLoop<Op, T, Flags, false, false>>(t, begin, end, constants, factors,
                                                              rounding);
  } else if (factors.identity()) {
    run_cpu_loop<UpdateRangeLoop<Op, T, Flags, false, false>>(t, begin, end, constants, factors,
                                                              rounding);
  } else {
    run_cpu_loop<UpdateRangeLoop<Op, T, Flags, true, false>>(t, begin, end, constants, factors,
                                                             rounding);
  }
}
#endif

template <class Op, class T>
struct RangeUpdater {
  const TensorEntry& tensor;
  ChunkRange range;
  const typename Op::Constants& constants;
  GradFactors factors;
  Rounding rounding;
  int lane;
  int stride;
  template <std::uint32_t Flags>
  FUSEDOPT_HD void operator()(std::integral_constant<std::uint32_t, Flags>) const {
#if !defined(__CUDA_ARCH__)
    if (stride == 1) {
      if constexpr (stores_bf16<T>()) {
        if (rounding.stochastic)
          return update_range_cpu<Op, T, Flags, true>(tensor, range.begin, range.end, constants,
                                                      factors, rounding);
      }
      return update_range_cpu<Op, T, Flags, false>(tensor, range.begin, range.end, constants,
                                                   factors, rounding);
    }
#endif
    const BlockConstants<Op> block{constants, factors, rounding};
    update_range<Op, T, Flags, true, true>(tensor, range.begin, range.end,
                                           ReadyConstants<Op>{block}, lane, stride);
  }
};

/// The whole optimizer step for one chunk: read the group's scalars and the parameter's step
/// count, derive the constants, dispatch on the group's mode flags, update the range.
template <class Op, class T, bool kStochastic = true>
FUSEDOPT_HD void step_chunk(const PlanView& plan, const StepScalars& scalars, std::int64_t chunk,
                            int lane, int stride) {
  if (skip_step(scalars)) return;  // NOTE(amp)
  const ChunkRange range = chunk_range(plan, chunk);
  const TensorEntry& tensor = plan.tensors[range.tensor];
  if (!takes_step<Op>(scalars, tensor)) return;  // NOTE(frozen)
  const GroupScalars& group = scalars.groups[tensor.group];
  const typename Op::Constants constants =
      Op::prepare(group, scalars.steps[tensor.param], scalars.param_state[tensor.param]);
  dispatch_flags<Op::kNumFlags>(
      group.flags, RangeUpdater<Op, T>{tensor, range, constants, grad_factors(scalars, group),
                                       rounding_of<kStochastic>(group, scalars, tensor), lane,
                                       stride});
}

/// After every chunk of a step has run: advance tensor `t`'s per-parameter scalars (NOTE(step-count)).
template <class Op>
FUSEDOPT_HD void finish_param(const PlanView& plan, const StepScalars& scalars, std::int32_t t) {
  if (skip_step(scalars)) return;  // NOTE(amp)
  const TensorEntry& tensor = plan.tensors[t];
  if (!takes_step<Op>(scalars, tensor)) return;  // NOTE(frozen)
  const float before = scalars.steps[tensor.param];
  if constexpr (Op::kHasParamState)
    scalars.param_state[tensor.param] = Op::next_param_state(scalars.groups[tensor.group], before,
                                                             scalars.param_state[tensor.param]);
  scalars.steps[tensor.param] = before + 1.0f;
}

/// Lane `lane` of `stride` lanes advances the per-parameter scalars of tensors [begin, end):
/// the CPU executor's fused step, after every chunk (NOTE(step-count)), and the finish launch of
/// Loop/Foreach.
template <class Op>
FUSEDOPT_HD void finish_tensors(const PlanView& plan, const StepScalars& scalars,
                                std::int32_t begin, std::int32_t end, std::int64_t lane,
                                std::int64_t stride) {
  for (std::int64_t t = begin + lane; t < end; t += stride)
    finish_param<Op>(plan, scalars, std::int32_t(t));
}

/// NOTE(step-count): a block's arrival on a tensor's counter after its chunk. Returns true for
/// the block that arrives last of the tensor's `blocks`; that block resets the counter
/// (reset_arrivals) for the next launch and advances the tensor's step count. Device: thread 0
/// of the block calls it (the only thread that read the step count, NOTE(block-constants));
/// host (the emulated device): once per emulated block.
FUSEDOPT_HD bool arrive_last(std::uint32_t* counter, std::uint32_t blocks) {
#if defined(__CUDA_ARCH__)
  __threadfence();
  const std::uint32_t arrived_before = atomicAdd(counter, 1u);
#else
  const std::uint32_t arrived_before = __atomic_fetch_add(counter, 1u, __ATOMIC_ACQ_REL);
#endif
  return arrived_before == blocks - 1;
}

FUSEDOPT_HD void reset_arrivals(std::uint32_t* counter) { *counter = 0; }

/// NOTE(step-count): after its chunk of tensor `t`, one thread of the block arrives on the
/// tensor's counter; the block that completes the tensor's last chunk advances its step count
/// and per-parameter scalar state and resets the counter. A tensor of one chunk needs no
/// counter: its only block is the last.
template <class Op>
FUSEDOPT_HD void arrive_chunk(const PlanView& plan, const StepScalars& scalars, std::int32_t t) {
  const std::int32_t param = plan.tensors[t].param;
  const std::int64_t chunks = chunk_count(plan.tensors[t].numel);
  if (chunks > 1) {
    if (!arrive_last(scalars.arrivals + param, std::uint32_t(chunks))) return;
#if defined(__CUDA_ARCH__)
    __threadfence();  // the other blocks read the step count before they arrived
#endif
    reset_arrivals(scalars.arrivals + param);
  }
  finish_param<Op>(plan, scalars, t);
}

/// Impl::Fused on the device: the range update of update_range for each mode-flag value.
template <class Op, class T, bool kUnscale, bool kStochastic, class Prepare>
struct DeviceRangeUpdater {
  const TensorEntry& tensor;
  std::int64_t begin;
  std::int64_t end;
  const Prepare& prepare;
  int lane;
  int stride;
  template <std::uint32_t Flags>
  FUSEDOPT_HD void operator()(std::integral_constant<std::uint32_t, Flags>) const {
    update_range<Op, T, Flags, kUnscale, kStochastic>(tensor, begin, end, prepare, lane, stride);
  }
};

/// Impl::Fused on the device (step_kernel) and the emulated device: lane `lane` of the block
/// that updates chunk `chunk`. The chunk and tensor entries are read by value; `prepare(tensor)`
/// gives the block's constants (NOTE(block-constants)). Returns the tensor's index, or -1 when
/// the block does nothing (a skipped step, a frozen parameter: uniform across the block), in
/// which case it must not arrive (NOTE(step-count)).
template <class Op, class T, bool kStochastic, bool kUnscale, class Prepare>
FUSEDOPT_HD std::int32_t step_chunk_lane(const PlanView& plan, const StepScalars& scalars,
                                         std::int64_t chunk, int lane, int stride,
                                         const Prepare& prepare) {
  if (skip_step(scalars)) return -1;  // NOTE(amp)
  const ChunkEntry entry = plan.chunks[chunk];
  const TensorEntry tensor = plan.tensors[entry.tensor];
  if (!takes_step<Op>(scalars, tensor)) return -1;  // NOTE(frozen)
  const std::int64_t begin = std::int64_t(entry.chunk) * kChunkSize;
  const std::int64_t end = min_of(begin + kChunkSize, tensor.numel);
  const auto block = [&]() -> const BlockConstants<Op>& { return prepare(tensor); };
  dispatch_flags<Op::kNumFlags>(
      scalars.groups[tensor.group].flags,
      DeviceRangeUpdater<Op, T, kUnscale, kStochastic, decltype(block)>{tensor, begin, end,
                                                                        block, lane, stride});
  return entry.tensor;
}

/// Loads list kList of elements [i, i + N) into x[0..N) (StoredType<T, kList> in memory), for
/// every list in `mask`. Gradients are unscaled and clipped by `factors` (NOTE(amp),
/// NOTE(clip)).
template <class T, int N, int kList = 0>
FUSEDOPT_HD void load_lists(const TensorEntry& t, std::uint32_t mask, std::int64_t i, Element* x,
                            GradFactors factors) {
  if constexpr (kList < kMaxLists) {
    if (mask >> kList & 1u) {
      using Stored = StoredType<T, kList>;
      const Stored* src = static_cast<const Stored*>(t.lists[kList]) + i;
      if constexpr (N == 1) {
        list_value<kList>(x[0]) = to_float(*src);
      } else {
        const Pack<Stored, N> v = load_pack<Stored, N>(src);
        for (int e = 0; e < N; ++e) list_value<kList>(x[e]) = to_float(v.v[e]);
      }
      if constexpr (kList == kGradListIndex)
        for (int e = 0; e < N; ++e) x[e].g = unscale(x[e].g, factors);
    }
    load_lists<T, N, kList + 1>(t, mask, i, x, factors);
  }
}

/// Stores x[0..N) (elements [i, i + N)) into every list in `mask`, rounding under `r`; a
/// parameter with a master copy is written rounded to nearest from it (NOTE(master-weights)).
template <class T, int N, int kList = 0>
FUSEDOPT_HD void store_lists(const TensorEntry& t, std::uint32_t mask, std::int64_t i, Element* x,
                             const Rounding& r) {
  if constexpr (kList < kMaxLists) {
    if (mask >> kList & 1u) {
      using Stored = StoredType<T, kList>;
      Stored* dst = static_cast<Stored*>(t.lists[kList]) + i;
      if constexpr (N == 1) {
        *dst = round_store<Stored>(list_value<kList>(x[0]), r, i, kList);
      } else {
        Pack<Stored, N> v;
        for (int e = 0; e < N; ++e) v.v[e] = round_store<Stored>(list_value<kList>(x[e]), r, i + e, kList);
        store_pack<Stored, N>(dst, v);
      }
      if constexpr (kList == 0 && Layout<T>::kMaster) {
        using M = typename Layout<T>::Model;
        M* model = static_cast<M*>(t.model) + i;
        if constexpr (N == 1) {
          *model = from_float<M>(x[0].p);
        } else {
          Pack<M, N> m;
          for (int e = 0; e < N; ++e) m.v[e] = from_float<M>(x[e].p);
          store_pack<M, N>(model, m);
        }
      }
    }
    store_lists<T, N, kList + 1>(t, mask, i, x, r);
  }
}

/// True when every list in `mask` is vector-aligned at element `begin`.
template <class T, int kList = 0>
FUSEDOPT_HD bool lists_aligned(const TensorEntry& t, std::uint32_t mask, std::int64_t begin) {
  if constexpr (kList < kMaxLists) {
    using Stored = StoredType<T, kList>;
    constexpr int kVec = segment_vector<T>();
    bool aligned = !(mask >> kList & 1u) ||
                   is_vector_aligned<Stored, kVec>(static_cast<const Stored*>(t.lists[kList]) + begin);
    if constexpr (kList == 0 && Layout<T>::kMaster) {
      using M = typename Layout<T>::Model;
      aligned = aligned && (!(mask & 1u) ||
                            is_vector_aligned<M, kVec>(static_cast<const M*>(t.model) + begin));
    }
    return aligned && lists_aligned<T, kList + 1>(t, mask, begin);
  } else {
    return true;
  }
}

/// Impl::Loop and Impl::Foreach: pass P over elements [begin, end) of one tensor, through
/// memory: only the lists the pass declares are loaded and stored.
template <class Op, class T, std::uint32_t Flags, int P>
FUSEDOPT_HD void pass_range(const TensorEntry& t, std::int64_t begin, std::int64_t end,
                            const typename Op::Constants& c, GradFactors factors,
                            const Rounding& r, int lane, int stride) {
  const PassIO io = Op::template pass<P, Flags>(c, nullptr);
  if (io.writes == 0) return;
  constexpr int kVec = segment_vector<T>();
  const std::int64_t n = end - begin;
  const std::int64_t vector_end = lists_aligned<T>(t, io.reads | io.writes, begin) ? n - n % kVec : 0;
  for (std::int64_t i = std::int64_t(lane) * kVec; i < vector_end; i += std::int64_t(stride) * kVec) {
    Element x[kVec] = {};
    load_lists<T, kVec>(t, io.reads, begin + i, x, factors);
#pragma unroll
    for (int e = 0; e < kVec; ++e) Op::template pass<P, Flags>(c, &x[e]);
    store_lists<T, kVec>(t, io.writes, begin + i, x, r);
  }
  for (std::int64_t i = vector_end + lane; i < n; i += stride) {
    Element x[1] = {};
    load_lists<T, 1>(t, io.reads, begin + i, x, factors);
    Op::template pass<P, Flags>(c, &x[0]);
    store_lists<T, 1>(t, io.writes, begin + i, x, r);
  }
}

#if !defined(__CUDA_ARCH__)
/// The CPU executor's pass loop: blocks of kBlock elements staged as one float column per list,
/// so that the per-element loop has no branches and vectorizes like the fused one. Baseline
/// x86-64 only (NOTE(cpu-isa)): Impl::Loop and Impl::Foreach are the multi-pass paths that show
/// what fusing saves, and three compiled levels of every pass would double the build.
template <class Op, class T, std::uint32_t Flags, int P, bool kStochastic>
void pass_range_cpu(const TensorEntry& t, std::int64_t begin, std::int64_t end,
                    const typename Op::Constants& constants, GradFactors factors,
                    const Rounding& rounding) {
  using M = typename Layout<T>::Model;
  using V = typename Layout<T>::Value;
  using S = typename Layout<T>::State;
  const typename Op::Constants c = constants;  // as in update_range_cpu
  Rounding r = rounding;
  if constexpr (!kStochastic) r.stochastic = false;
  const PassIO io = Op::template pass<P, Flags>(c, nullptr);
  if (io.writes == 0) return;
  constexpr int kBlock = 256;
  alignas(64) float column[kMaxLists][kBlock] = {};
  for (std::int64_t i = begin; i < end; i += kBlock) {
    const int m = int(min_of<std::int64_t>(kBlock, end - i));
    for (int list = 0; list < kMaxLists; ++list) {
      if (!(io.reads >> list & 1u)) continue;
      if (list == 0) {
        const V* src = static_cast<const V*>(t.lists[0]) + i;
        for (int e = 0; e < m; ++e) column[0][e] = to_float(src[e]);
      } else if (list == kGradListIndex) {
        const M* src = static_cast<const M*>(t.lists[list]) + i;
        for (int e = 0; e < m; ++e) column[list][e] = to_float(src[e]);
        if (!factors.identity())
          for (int e = 0; e < m; ++e) column[list][e] = unscale(column[list][e], factors);
      } else if (list < kFirstTempList) {
        const S* src = static_cast<const S*>(t.lists[list]) + i;
        for (int e = 0; e < m; ++e) column[list][e] = to_float(src[e]);
      } else {
        const float* src = static_cast<const float*>(t.lists[list]) + i;
        for (int e = 0; e < m; ++e) column[list][e] = src[e];
      }
    }
    for (int e = 0; e < kBlock; ++e) {
      Element x;
      x.p = column[0][e];
      x.g = column[1][e];
      for (int k = 0; k < kMaxStates; ++k) x.s[k] = column[kFirstStateList + k][e];
      for (int k = 0; k < kMaxTemps; ++k) x.t[k] = column[kFirstTempList + k][e];
      Op::template pass<P, Flags>(c, &x);
      column[0][e] = x.p;
      column[1][e] = x.g;
      for (int k = 0; k < kMaxStates; ++k) column[kFirstStateList + k][e] = x.s[k];
      for (int k = 0; k < kMaxTemps; ++k) column[kFirstTempList + k][e] = x.t[k];
    }
    for (int list = 0; list < kMaxLists; ++list) {
      if (!(io.writes >> list & 1u)) continue;
      if (list == 0) {
        V* dst = static_cast<V*>(t.lists[0]) + i;
        for (int e = 0; e < m; ++e) dst[e] = round_store<V>(column[0][e], r, i + e, 0);
        if constexpr (Layout<T>::kMaster) {
          M* model = static_cast<M*>(t.model) + i;
          for (int e = 0; e < m; ++e) model[e] = from_float<M>(column[0][e]);
        }
      } else if (list == kGradListIndex) {
        M* dst = static_cast<M*>(t.lists[list]) + i;
        for (int e = 0; e < m; ++e) dst[e] = from_float<M>(column[list][e]);
      } else if (list < kFirstTempList) {
        S* dst = static_cast<S*>(t.lists[list]) + i;
        for (int e = 0; e < m; ++e) dst[e] = round_store<S>(column[list][e], r, i + e, list);
      } else {
        float* dst = static_cast<float*>(t.lists[list]) + i;
        for (int e = 0; e < m; ++e) dst[e] = column[list][e];
      }
    }
  }
}
#endif

template <class Op, class T, std::uint32_t Flags>
struct PassRangeUpdater {
  const TensorEntry& tensor;
  ChunkRange range;
  const typename Op::Constants& constants;
  GradFactors factors;
  Rounding rounding;
  int lane;
  int stride;
  template <int P>
  FUSEDOPT_HD void operator()(std::integral_constant<int, P>) const {
#if !defined(__CUDA_ARCH__)
    if (stride == 1) {
      if constexpr (stores_bf16<T>()) {
        if (rounding.stochastic)
          return pass_range_cpu<Op, T, Flags, P, true>(tensor, range.begin, range.end, constants,
                                                       factors, rounding);
      }
      return pass_range_cpu<Op, T, Flags, P, false>(tensor, range.begin, range.end, constants,
                                                    factors, rounding);
    }
#endif
    pass_range<Op, T, Flags, P>(tensor, range.begin, range.end, constants, factors, rounding,
                                lane, stride);
  }
};

template <class Op, class T>
struct PassFlagsDispatch {
  const TensorEntry& tensor;
  ChunkRange range;
  const typename Op::Constants& constants;
  GradFactors factors;
  Rounding rounding;
  int pass;
  int lane;
  int stride;
  template <std::uint32_t Flags>
  FUSEDOPT_HD void operator()(std::integral_constant<std::uint32_t, Flags>) const {
    dispatch_pass<Op::kNumPasses>(pass, PassRangeUpdater<Op, T, Flags>{
                                            tensor, range, constants, factors, rounding, lane,
                                            stride});
  }
};

/// One pass of the step for one chunk (Impl::Loop, Impl::Foreach). Step counts advance after
/// the last pass, in a separate launch (finish_param).
template <class Op, class T, bool kStochastic = true>
FUSEDOPT_HD void pass_chunk(const PlanView& plan, const StepScalars& scalars, std::int64_t chunk,
                            int pass, int lane, int stride) {
  if (skip_step(scalars)) return;  // NOTE(amp)
  const ChunkRange range = chunk_range(plan, chunk);
  const TensorEntry& tensor = plan.tensors[range.tensor];
  if (!takes_step<Op>(scalars, tensor)) return;  // NOTE(frozen)
  const GroupScalars& group = scalars.groups[tensor.group];
  const typename Op::Constants constants =
      Op::prepare(group, scalars.steps[tensor.param], scalars.param_state[tensor.param]);
  dispatch_flags<Op::kNumFlags>(
      group.flags, PassFlagsDispatch<Op, T>{tensor, range, constants, grad_factors(scalars, group),
                                            rounding_of<kStochastic>(group, scalars, tensor), pass, lane,
                                            stride});
}

template <class Op>
struct PassIOFlagsQuery {
  const typename Op::Constants& constants;
  PassIO* io;  // Op::kNumPasses entries
  template <std::uint32_t Flags>
  void operator()(std::integral_constant<std::uint32_t, Flags>) const {
    for (int pass = 0; pass < Op::kNumPasses; ++pass) io[pass] = pass_io<Op, Flags>(pass, constants);
  }
};

/// Host side: the IO of every pass for a group, at a steady-state step (which passes run does
/// not depend on the step, NOTE(passes); what a pass reads may, e.g. RAdam's rectification).
template <class Op>
std::array<PassIO, Op::kNumPasses> group_pass_io(const GroupScalars& group) {
  constexpr float kSteadyStep = 1000.0f;
  const typename Op::Constants constants = Op::prepare(group, kSteadyStep, 0.5);
  std::array<PassIO, Op::kNumPasses> io{};
  dispatch_flags<Op::kNumFlags>(group.flags, PassIOFlagsQuery<Op>{constants, io.data()});
  return io;
}

/// zero_grad for one chunk: writes T zeros to the gradient list.
template <class T>
FUSEDOPT_HD void zero_chunk(const PlanView& plan, std::int64_t chunk, int lane, int stride) {
  const ChunkRange range = chunk_range(plan, chunk);
  void* grad = plan.tensors[range.tensor].lists[1];
  if (grad == nullptr) return;  // NOTE(absent-grad): nothing to zero
  T* g = static_cast<T*>(grad) + range.begin;
  const std::int64_t n = range.end - range.begin;
  constexpr int kVec = vector_elements<T>();
  const std::int64_t vector_end = is_vector_aligned<T, kVec>(g) ? n - n % kVec : 0;
  const T zero = from_float<T>(0.0f);
  Pack<T, kVec> zeros;
  for (int e = 0; e < kVec; ++e) zeros.v[e] = zero;
  for (std::int64_t i = std::int64_t(lane) * kVec; i < vector_end; i += std::int64_t(stride) * kVec)
    store_pack<T, kVec>(g + i, zeros);
  for (std::int64_t i = vector_end + lane; i < n; i += stride) g[i] = zero;
}

/// NOTE(master-weights): the fp32 master copy of one chunk set from its parameter (T, the
/// parameters' dtype): when master weights are turned on, loaded, or re-read on request.
template <class T>
FUSEDOPT_HD void master_from_model_chunk(const PlanView& plan, std::int64_t chunk, int lane,
                                         int stride) {
  const ChunkRange range = chunk_range(plan, chunk);
  const TensorEntry& t = plan.tensors[range.tensor];
  if (t.model == nullptr) return;
  float* master = static_cast<float*>(t.lists[0]) + range.begin;
  const T* model = static_cast<const T*>(t.model) + range.begin;
  for (std::int64_t i = lane; i < range.end - range.begin; i += stride) master[i] = to_float(model[i]);
}

}  // namespace fusedopt::kernels
