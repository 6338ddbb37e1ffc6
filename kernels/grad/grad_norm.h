#pragma once
// The deterministic multi-tensor norm: per-chunk, per-tensor and total, shared by the CUDA
// kernels (kernels/grad/kernels.cuh), the emulated device and the CPU executor
// (host/grad/executor.cpp).
//
// NOTE(grad-norm): torch.linalg.vector_norm semantics, fp32 accumulation, and a reduction order
// fixed by the data layout alone, so that the result is the same bits on every executor, for
// any block order and thread count, run after run:
//   1. chunk (65,536 elements, one block): with kVec = 16 / sizeof(T) elements per vector (4 for
//      f32, 8 for f16/bf16), "virtual lane" v in [0, 512 kVec) accumulates the terms of
//      elements v, v + 512 kVec, v + 2 * 512 kVec, ... in that order (a term is |x|, x*x,
//      max |x| or |x|^p). Thread `lane` of the block owns virtual lanes lane*kVec .. +kVec: the
//      elements of the 16-byte vectors lane, lane + 512, ... when the view is aligned (one
//      vector load each), the same elements one by one when it is not. Each thread combines
//      its kVec accumulators pairwise (stride 1, 2, 4), then the 512 thread values combine in
//      the binary tree partial[l] += partial[l + s], s = 256, 128, ..., 1. The chunk's value
//      goes to the plan's scratch (chunk_partials); nothing is combined across blocks here.
//   2. finish (one launch, one block, after every chunk): per tensor, its chunk values combine
//      in the in-place pairwise tree v[c] += v[c + s] for chunk-of-tensor c = 0 mod 2s,
//      s = 1, 2, 4, ...; the tensor's norm is the root of the result (sqrt, identity, or the
//      1/p-th power); then the total is torch's norm of the per-tensor norms: the terms of the
//      per-tensor norms, in the caller's order, combine in the same pairwise tree, and the
//      total is its root.
// A NaN anywhere makes the result NaN (the max propagates NaN), an inf makes it inf. Empty
// tensors have norm 0 (torch raises for the inf-norm of an empty tensor). The CPU executor's
// chunk loop (chunk_partial_cpu) visits elements in memory order into 512 kVec accumulators:
// the same sums in the same order, vectorizable.
#include <cstdint>
#include <type_traits>

#include "kernels/engine/det_math.h"
#include "kernels/grad/grad_plan.h"
#include "kernels/engine/apply.h"
#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"

namespace fusedopt::kernels::amp {

/// norm_type 1, 2, inf, any other p > 0.
enum class NormKind : int { l1, l2, inf, p };

/// For NormKind::p: the exponent and its reciprocal (computed once, on the host, in double).
struct NormArgs {
  double p;
  double inv_p;
};

template <NormKind K>
using NormTag = std::integral_constant<NormKind, K>;

/// The term one element contributes: |x|, x*x, |x| (max), |x|^p.
template <NormKind K>
FUSEDOPT_HD float norm_term(float x, const NormArgs& a) {
  if constexpr (K == NormKind::l2) {
    return mul_rn(x, x);
  } else if constexpr (K == NormKind::p) {
    return float(det_pow(double(abs_of(x)), a.p));
  } else {
    (void)a;
    return abs_of(x);
  }
}

/// Sum, or (inf) a max that propagates NaN.
template <NormKind K>
FUSEDOPT_HD float norm_combine(float a, float b) {
  if constexpr (K == NormKind::inf) {
    return (b > a || b != b) ? b : a;
  } else {
    return add_rn(a, b);
  }
}

/// The norm from its combined terms: identity, sqrt, or the 1/p-th power.
template <NormKind K>
FUSEDOPT_HD float norm_root(float s, const NormArgs& a) {
  if constexpr (K == NormKind::l2) {
    return sqrt_rn(s);
  } else if constexpr (K == NormKind::p) {
    return float(det_pow(double(s), a.inv_p));
  } else {
    (void)a;
    return s;
  }
}

/// In place: acc[0] = the pairwise combination of acc[0..N), strides 1, 2, 4, ...
template <NormKind K, int N>
FUSEDOPT_HD float combine_pack(float* acc) {
#pragma unroll
  for (int s = 1; s < N; s *= 2)
#pragma unroll
    for (int e = 0; e + s < N; e += 2 * s) acc[e] = norm_combine<K>(acc[e], acc[e + s]);
  return acc[0];
}

/// Step 1 of NOTE(grad-norm) for thread `lane` of kThreads: its kVec virtual lanes over the
/// chunk's n elements at x, combined.
template <NormKind K, class T>
FUSEDOPT_HD float lane_partial(const T* x, std::int64_t n, int lane, const NormArgs& a) {
  constexpr int kVec = vector_elements<T>();
  constexpr std::int64_t kRow = std::int64_t(kThreads) * kVec;
  float acc[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc[e] = 0.0f;
  if (is_vector_aligned<T, kVec>(x)) {
    const std::int64_t packs = n / kVec;
    for (std::int64_t p = lane; p < packs; p += kThreads) {
      const Pack<T, kVec> v = load_pack<T, kVec>(x + p * kVec);
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[e] = norm_combine<K>(acc[e], norm_term<K>(to_float(v.v[e]), a));
    }
    // The last, partial vector slot belongs to thread packs % kThreads, after its full ones.
    if (lane == int(packs % kThreads)) {
      const std::int64_t tail = packs * kVec;
#pragma unroll
      for (int e = 0; e < kVec; ++e)
        if (tail + e < n) acc[e] = norm_combine<K>(acc[e], norm_term<K>(to_float(x[tail + e]), a));
    }
  } else {
    for (std::int64_t base = std::int64_t(lane) * kVec; base < n; base += kRow)
#pragma unroll
      for (int e = 0; e < kVec; ++e)
        if (base + e < n) acc[e] = norm_combine<K>(acc[e], norm_term<K>(to_float(x[base + e]), a));
  }
  return combine_pack<K, kVec>(acc);
}

/// One level of the block tree over the kThreads thread values: lanes below s combine.
template <NormKind K>
FUSEDOPT_HD void lane_tree_level(float* partials, int lane, int s) {
  if (lane < s) partials[lane] = norm_combine<K>(partials[lane], partials[lane + s]);
}

#if !defined(__CUDA_ARCH__)
/// The CPU executor's step 1: the same value as the kThreads lanes of lane_partial and the block
/// tree, from one pass in memory order (vectorizable).
template <NormKind K, class T>
float chunk_partial_cpu(const T* x, std::int64_t n, const NormArgs& args) {
  constexpr int kVec = vector_elements<T>();
  constexpr int kRow = kThreads * kVec;
  const NormArgs a = args;  // a local copy: loop-invariant
  alignas(64) float acc[kRow];
  for (int v = 0; v < kRow; ++v) acc[v] = 0.0f;
  std::int64_t i = 0;
  for (; i + kRow <= n; i += kRow) {
    const T* row = x + i;
    for (int v = 0; v < kRow; ++v) acc[v] = norm_combine<K>(acc[v], norm_term<K>(to_float(row[v]), a));
  }
  for (int v = 0; i + v < n; ++v) acc[v] = norm_combine<K>(acc[v], norm_term<K>(to_float(x[i + v]), a));
  float lanes[kThreads];
  for (int lane = 0; lane < kThreads; ++lane) lanes[lane] = combine_pack<K, kVec>(acc + lane * kVec);
  for (int s = kThreads / 2; s > 0; s /= 2)
    for (int lane = 0; lane < s; ++lane) lane_tree_level<K>(lanes, lane, s);
  return lanes[0];
}
#endif

// ---- step 2: the finish launch, one block; each phase runs for every lane, then the next ----

/// Level s of every tensor's tree over its chunk values (s = 1, 2, 4, ... < most chunks).
template <NormKind K>
FUSEDOPT_HD void chunk_tree_level(const GradPlan& plan, std::int64_t s, std::int64_t lane,
                                  std::int64_t stride) {
  for (std::int64_t c = lane; c < plan.num_chunks; c += stride) {
    const ChunkEntry e = plan.chunks[c];
    if (e.chunk % (2 * s) != 0) continue;
    if (e.chunk + s < chunk_count(plan.tensors[e.tensor].numel))
      plan.chunk_partials[c] = norm_combine<K>(plan.chunk_partials[c], plan.chunk_partials[c + s]);
  }
}

/// Each tensor's norm (its first chunk holds its combined terms) and its term of the total.
template <NormKind K>
FUSEDOPT_HD void tensor_norms_phase(const GradPlan& plan, const NormArgs& a, std::int64_t lane,
                                    std::int64_t stride) {
  for (std::int64_t t = lane; t < plan.num_tensors; t += stride) {
    const GradTensor& g = plan.tensors[t];
    const float norm = canonical(norm_root<K>(plan.chunk_partials[g.first_chunk], a));
    plan.tensor_norms[g.index] = norm;
    plan.tensor_values[g.index] = norm_term<K>(norm, a);
  }
}

/// Level s of the tree over the per-tensor terms, in the caller's order.
template <NormKind K>
FUSEDOPT_HD void tensor_tree_level(const GradPlan& plan, std::int64_t s, std::int64_t lane,
                                   std::int64_t stride) {
  float* v = plan.tensor_values;
  for (std::int64_t i = lane * 2 * s; i + s < plan.num_tensors; i += stride * 2 * s)
    v[i] = norm_combine<K>(v[i], v[i + s]);
}

/// Lane 0: the total norm (0 for an empty list, as torch's clip_grad_norm_).
template <NormKind K>
FUSEDOPT_HD void total_phase(const GradPlan& plan, const NormArgs& a, std::int64_t lane) {
  if (lane != 0) return;
  const float total =
      plan.num_tensors == 0 ? 0.0f : canonical(norm_root<K>(plan.tensor_values[0], a));
  *plan.total_norm = total;
  // The same division the step's grad_factors applies (NOTE(clip)), so the reported norm is the
  // one the clipping coefficient was computed from.
  *plan.unscaled_norm = plan.norm_divisor != nullptr ? div_rn(total, *plan.norm_divisor) : total;
}

/// The finish launch's phases in order; `phase(f)` runs f(lane, stride) for every lane of the
/// block before the next phase (__syncthreads() between them on the device).
template <NormKind K, class Phase>
FUSEDOPT_HD void finish_phases(const GradPlan& plan, const NormArgs& a, const Phase& phase) {
  for (int level = 0; level < plan.chunk_levels; ++level)
    phase([&](std::int64_t lane, std::int64_t stride) {
      chunk_tree_level<K>(plan, std::int64_t(1) << level, lane, stride);
    });
  phase([&](std::int64_t lane, std::int64_t stride) { tensor_norms_phase<K>(plan, a, lane, stride); });
  for (int level = 0; level < plan.tensor_levels; ++level)
    phase([&](std::int64_t lane, std::int64_t stride) {
      tensor_tree_level<K>(plan, std::int64_t(1) << level, lane, stride);
    });
  phase([&](std::int64_t lane, std::int64_t) { total_phase<K>(plan, a, lane); });
}

}  // namespace fusedopt::kernels::amp
