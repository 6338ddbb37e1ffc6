#pragma once
// Elementwise gradient kernels (clip by a norm, clip by value, non-finite check and unscale) and
// GradScaler's scale update, shared by the CUDA kernels, the emulated device and the CPU
// executor. Elementwise order does not matter, so all three run the same loops: lane `lane` of
// `stride` takes the 16-byte vectors lane, lane + stride, ... when the view is aligned, then the
// scalar tail (the CPU executor is lane 0 of stride 1).
#include <cstdint>

#include "kernels/engine/det_math.h"
#include "kernels/grad/grad_plan.h"
#include "kernels/engine/apply.h"
#include "kernels/engine/dtype.h"

namespace fusedopt::kernels::amp {

/// x[i] = f(x[i]) (in float, stored rounded to T) for this lane's share of the n elements at x.
template <class T, class F>
FUSEDOPT_HD void map_chunk(T* x, std::int64_t n, int lane, int stride, const F& f) {
  constexpr int kVec = vector_elements<T>();
  const std::int64_t vector_end = is_vector_aligned<T, kVec>(x) ? n - n % kVec : 0;
  for (std::int64_t i = std::int64_t(lane) * kVec; i < vector_end; i += std::int64_t(stride) * kVec) {
    Pack<T, kVec> v = load_pack<T, kVec>(x + i);
#pragma unroll
    for (int e = 0; e < kVec; ++e) v.v[e] = from_float<T>(f(to_float(v.v[e])));
    store_pack<T, kVec>(x + i, v);
  }
  for (std::int64_t i = vector_end + lane; i < n; i += stride) x[i] = from_float<T>(f(to_float(x[i])));
}


/// x * coef for every element of the chunk (nothing written when coef == 1: torch's product
/// would not change any value).
template <class T>
FUSEDOPT_HD void scale_chunk(T* x, std::int64_t n, float coef, int lane, int stride) {
  if (coef == 1.0f) return;
  map_chunk(x, n, lane, stride, [coef](float v) { return canonical(mul_rn(v, coef)); });
}

/// torch.clamp(x, lo, hi) (clamp_min_ then clamp_max_): NaN stays NaN.
template <class T>
FUSEDOPT_HD void clamp_chunk(T* x, std::int64_t n, float lo, float hi, int lane, int stride) {
  map_chunk(x, n, lane, stride, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); });
}

/// What check_unscale_chunk multiplies by: *factor, or (GradScaler) float(1 / double(*factor)),
/// torch's self._scale.double().reciprocal().float().
struct UnscaleArgs {
  float* found_inf;
  const float* factor;
  std::int32_t reciprocal;  // factor is the scale: multiply by its reciprocal
  std::int32_t check_only;  // only set found_inf (torch's _check_inf_per_device)
};

FUSEDOPT_HD float unscale_multiplier(const UnscaleArgs& a) {
  if (a.check_only) return 1.0f;
  const float f = *a.factor;
  return a.reciprocal ? float(div_rn(1.0, double(f))) : f;
}

FUSEDOPT_HD void set_found_inf(float* found_inf) {
#if defined(__CUDA_ARCH__)
  *found_inf = 1.0f;  // every writer writes the same value, as torch's kernel
#else
  __atomic_store_n(reinterpret_cast<std::uint32_t*>(found_inf), 0x3f800000u, __ATOMIC_RELAXED);
#endif
}

/// torch._amp_foreach_non_finite_check_and_unscale_ on one chunk: found_inf = 1 if an element
/// is inf or NaN (never cleared), every element times the multiplier (none written when it is
/// 1, as torch returns the value unchanged then).
template <class T>
FUSEDOPT_HD void check_unscale_chunk(T* x, std::int64_t n, const UnscaleArgs& a, int lane,
                                     int stride) {
  const float m = unscale_multiplier(a);
  bool found = false;
  if (m == 1.0f) {
    constexpr int kVec = vector_elements<T>();
    const std::int64_t vector_end = is_vector_aligned<T, kVec>(x) ? n - n % kVec : 0;
    for (std::int64_t i = std::int64_t(lane) * kVec; i < vector_end; i += std::int64_t(stride) * kVec) {
      const Pack<T, kVec> v = load_pack<T, kVec>(x + i);
#pragma unroll
      for (int e = 0; e < kVec; ++e) found |= !is_finite(to_float(v.v[e]));
    }
    for (std::int64_t i = vector_end + lane; i < n; i += stride) found |= !is_finite(to_float(x[i]));
  } else {
    map_chunk(x, n, lane, stride, [m, &found](float v) {
      found |= !is_finite(v);
      return canonical(mul_rn(v, m));
    });
  }
  if (found) set_found_inf(a.found_inf);
}

/// torch's amp_update_scale_cuda_kernel (aten/src/ATen/native/cuda/AmpKernels.cu), exactly:
/// on an inf/NaN the scale is multiplied by backoff_factor (in double, then rounded to float)
/// and the tracker reset; otherwise the tracker counts successful steps and at growth_interval
/// the scale is multiplied by growth_factor unless that would make it inf, and the tracker
/// resets.
FUSEDOPT_HD void update_scale(float* scale, std::int32_t* growth_tracker, float found_inf,
                              double growth_factor, double backoff_factor,
                              std::int32_t growth_interval) {
  if (found_inf != 0.0f) {  // NaN counts as found, as `if (*found_inf)` in torch
    *scale = float(mul_rn(double(*scale), backoff_factor));
    *growth_tracker = 0;
  } else {
    const std::int32_t successful = *growth_tracker + 1;
    if (successful == growth_interval) {
      const float grown = float(mul_rn(double(*scale), growth_factor));
      if (is_finite(grown)) *scale = grown;
      *growth_tracker = 0;
    } else {
      *growth_tracker = successful;
    }
  }
}

/// GradScaler's device state (NOTE(grad-scaler) in include/fusedopt/grad_utils.hpp).
constexpr int kMaxScalerLists = 32;
struct ScalerState {
  float scale;
  std::int32_t growth_tracker;
  std::uint64_t skipped_steps;  // updates that saw an inf/NaN
  std::uint64_t updates;
  float found_inf[kMaxScalerLists];  // one per gradient list, cleared by every update
};

struct ScalerUpdateArgs {
  double growth_factor;
  double backoff_factor;
  std::int32_t growth_interval;
  std::int32_t num_lists;
  std::int32_t has_new_scale;  // GradScaler.update(new_scale): set it instead
  float new_scale;
};

/// GradScaler.update() in one thread: the found_inf of every list combined (torch sums them),
/// torch's _amp_update_scale_ (or the new scale), the counters, and found_inf cleared for the
/// next iteration.
FUSEDOPT_HD void scaler_update(ScalerState* s, const ScalerUpdateArgs& a) {
  float found = 0.0f;
  for (int k = 0; k < a.num_lists; ++k)
    if (s->found_inf[k] != 0.0f) found = 1.0f;
  if (a.has_new_scale) {
    s->scale = a.new_scale;
  } else {
    update_scale(&s->scale, &s->growth_tracker, found, a.growth_factor, a.backoff_factor,
                 a.growth_interval);
  }
  if (found != 0.0f) s->skipped_steps += 1;
  s->updates += 1;
  for (int k = 0; k < a.num_lists; ++k) s->found_inf[k] = 0.0f;
}

}  // namespace fusedopt::kernels::amp
