// The executors of the gradient utilities: the CPU executor (one task per chunk across threads,
// the kernels' bodies with lane 0 of stride 1, or for the norm chunk_partial_cpu), the emulated
// device (NOTE(emulated-device): every CUDA launch replayed block by block and lane by lane in
// shuffled orders, phase by phase where the kernel synchronizes its block) and CUDA.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "host/grad/grad_list_impl.hpp"
#include "host/engine/dispatch.hpp"
#if FUSEDOPT_WITH_CUDA
#include "kernels/grad/launch.h"
#endif

namespace fusedopt::detail {

namespace {

using kernels::kThreads;
using kernels::amp::NormKind;

template <class F>
void dispatch_norm_kind(NormKind kind, F&& f) {
  switch (kind) {
    case NormKind::l1: return f(kernels::amp::NormTag<NormKind::l1>{});
    case NormKind::l2: return f(kernels::amp::NormTag<NormKind::l2>{});
    case NormKind::inf: return f(kernels::amp::NormTag<NormKind::inf>{});
    case NormKind::p: return f(kernels::amp::NormTag<NormKind::p>{});
  }
  throw_error("norm kind: unsupported value ", int(kind));
}

/// Runs body(T tag, segment) for every dtype segment of the list.
template <class F>
void for_each_segment(const GradListImpl& list, const F& body) {
  for (const GradSegment& s : list.segments)
    dispatch_dtype(s.dtype, [&](auto tag) { body(tag, s); });
}

/// An elementwise kernel over every chunk: chunk_body(T tag, chunk, lane, stride) on the
/// executor of the list's device; cuda_launch(T tag, segment) on CUDA.
template <class Body, class CudaLaunch>
void run_elementwise(const GradListImpl& list, const Body& chunk_body,
                     [[maybe_unused]] const CudaLaunch& cuda_launch) {
  if (list.device.is_cpu()) {
    for_each_segment(list, [&](auto tag, const GradSegment& s) {
      if (emulated_device()) {
        emulated_launch(s.chunk_end - s.chunk_begin,
                         [&](std::int64_t block, const std::vector<std::int64_t>& lanes) {
                           for (const std::int64_t lane : lanes)
                             chunk_body(tag, s.chunk_begin + block, int(lane), kThreads);
                         });
      } else {
        parallel_chunks(s.chunk_begin, s.chunk_end - s.chunk_begin,
                             [&](std::int64_t c) { chunk_body(tag, c, 0, 1); });
      }
    });
    return;
  }
#if FUSEDOPT_WITH_CUDA
  DeviceGuard guard(list.device);
  for_each_segment(list, [&](auto tag, const GradSegment& s) { cuda_launch(tag, s); });
#endif
}

}  // namespace

void run_norm(const GradListImpl& list, NormKind kind, const kernels::amp::NormArgs& args) {
  const kernels::amp::GradPlan& plan = list.plan;
  dispatch_norm_kind(kind, [&](auto kind_tag) {
    constexpr NormKind K = decltype(kind_tag)::value;
    if (list.device.is_cpu()) {
      const bool emulated = emulated_device();
      for_each_segment(list, [&](auto tag, const GradSegment& s) {
        using T = typename decltype(tag)::type;
        if (!emulated) {
          parallel_chunks(s.chunk_begin, s.chunk_end - s.chunk_begin, [&](std::int64_t c) {
            const auto span = kernels::amp::chunk_span<T>(plan, c);
            plan.chunk_partials[c] = kernels::amp::chunk_partial_cpu<K, T>(span.x, span.n, args);
          });
          return;
        }
        // norm_chunks_kernel: every lane's partial into the block's shared array, then the
        // block tree one level at a time (a __syncthreads() between levels).
        emulated_launch(s.chunk_end - s.chunk_begin,
                         [&](std::int64_t block, const std::vector<std::int64_t>& lanes) {
                           const std::int64_t c = s.chunk_begin + block;
                           const auto span = kernels::amp::chunk_span<T>(plan, c);
                           float partials[kThreads];
                           for (const std::int64_t lane : lanes)
                             partials[lane] =
                                 kernels::amp::lane_partial<K, T>(span.x, span.n, int(lane), args);
                           for (int level = kThreads / 2; level > 0; level /= 2)
                             for (const std::int64_t lane : lanes)
                               kernels::amp::lane_tree_level<K>(partials, int(lane), level);
                           plan.chunk_partials[c] = partials[0];
                         });
      });
      if (!emulated) {
        kernels::amp::finish_phases<K>(plan, args, [](const auto& phase) { phase(0, 1); });
        return;
      }
      // norm_finish_kernel: one block, each phase for every lane before the next.
      emulated_launch(1, [&](std::int64_t, const std::vector<std::int64_t>& lanes) {
        kernels::amp::finish_phases<K>(plan, args, [&](const auto& phase) {
          for (const std::int64_t lane : lanes) phase(lane, std::int64_t(kThreads));
        });
      });
      return;
    }
#if FUSEDOPT_WITH_CUDA
    DeviceGuard guard(list.device);
    for_each_segment(list, [&](auto tag, const GradSegment& s) {
      using T = typename decltype(tag)::type;
      kernels::amp::launch_norm_chunks<K, T>(plan, s.chunk_begin, s.chunk_end, args, list.stream);
    });
    kernels::amp::launch_norm_finish<K>(plan, args, list.stream);
#endif
  });
}

void run_scale(const GradListImpl& list, const float* total_norm, float max_norm) {
  // Host executors: the coefficient once per launch, as every block of the kernel computes it.
  float coef = 1.0f;
  if (list.device.is_cpu()) coef = kernels::amp::clip_coefficient(*total_norm, max_norm);
  run_elementwise(
      list,
      [&](auto tag, std::int64_t chunk, int lane, int stride) {
        using T = typename decltype(tag)::type;
        const auto span = kernels::amp::chunk_span<T>(list.plan, chunk);
        kernels::amp::scale_chunk<T>(span.x, span.n, coef, lane, stride);
      },
      [&](auto tag, const GradSegment& s) {
#if FUSEDOPT_WITH_CUDA
        using T = typename decltype(tag)::type;
        kernels::amp::launch_scale<T>(list.plan, s.chunk_begin, s.chunk_end, total_norm, max_norm,
                                      list.stream);
#else
        (void)tag, (void)s;
#endif
      });
}

void run_clamp(const GradListImpl& list, float lo, float hi) {
  run_elementwise(
      list,
      [&](auto tag, std::int64_t chunk, int lane, int stride) {
        using T = typename decltype(tag)::type;
        const auto span = kernels::amp::chunk_span<T>(list.plan, chunk);
        kernels::amp::clamp_chunk<T>(span.x, span.n, lo, hi, lane, stride);
      },
      [&](auto tag, const GradSegment& s) {
#if FUSEDOPT_WITH_CUDA
        using T = typename decltype(tag)::type;
        kernels::amp::launch_clamp<T>(list.plan, s.chunk_begin, s.chunk_end, lo, hi, list.stream);
#else
        (void)tag, (void)s;
#endif
      });
}

void run_check_unscale(const GradListImpl& list, const kernels::amp::UnscaleArgs& args) {
  run_elementwise(
      list,
      [&](auto tag, std::int64_t chunk, int lane, int stride) {
        using T = typename decltype(tag)::type;
        const auto span = kernels::amp::chunk_span<T>(list.plan, chunk);
        kernels::amp::check_unscale_chunk<T>(span.x, span.n, args, lane, stride);
      },
      [&](auto tag, const GradSegment& s) {
#if FUSEDOPT_WITH_CUDA
        using T = typename decltype(tag)::type;
        kernels::amp::launch_check_unscale<T>(list.plan, s.chunk_begin, s.chunk_end, args,
                                              list.stream);
#else
        (void)tag, (void)s;
#endif
      });
}

void run_update_scale(Device device, [[maybe_unused]] Stream stream, float* scale,
                      std::int32_t* growth_tracker, const float* found_inf, double growth_factor,
                      double backoff_factor, std::int32_t growth_interval) {
  if (device.is_cpu())  // one thread: the emulated device runs it as the CPU executor does
    return kernels::amp::update_scale(scale, growth_tracker, *found_inf, growth_factor,
                                      backoff_factor, growth_interval);
#if FUSEDOPT_WITH_CUDA
  DeviceGuard guard(device);
  kernels::amp::launch_update_scale(scale, growth_tracker, found_inf, growth_factor,
                                    backoff_factor, growth_interval, stream);
#endif
}

void run_scaler_update(Device device, [[maybe_unused]] Stream stream,
                       kernels::amp::ScalerState* state,
                       const kernels::amp::ScalerUpdateArgs& args) {
  if (device.is_cpu()) return kernels::amp::scaler_update(state, args);
#if FUSEDOPT_WITH_CUDA
  DeviceGuard guard(device);
  kernels::amp::launch_scaler_update(state, args, stream);
#endif
}

}  // namespace fusedopt::detail
