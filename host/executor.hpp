#pragma once
// Runs a functor over one segment of the plan on the segment's executor: the CUDA kernel
// (kernels/multi_tensor.cuh, via launch.h) or the CPU executor below, which runs the very same
// per-chunk functions with one task per chunk across threads.
#include <cstdint>

#include "engine.hpp"
#include "kernels/apply.h"
#include "kernels/dtype.h"
#if FUSEDOPT_WITH_CUDA
#include "kernels/launch.h"
#endif

namespace fusedopt::detail {

/// Calls f(kernels::type_tag<T>{}) with T the storage type of `dtype`.
template <class F>
void dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f(kernels::type_tag<float>{});
    case DType::f16: return f(kernels::type_tag<kernels::Half>{});
    case DType::bf16: return f(kernels::type_tag<kernels::BFloat16>{});
  }
  throw_error("dtype: unsupported value ", int(dtype));
}

namespace cpu {

template <class Op, class T>
void step(const SegmentLaunch& s) {
  const std::int64_t first = s.segment.chunk_begin;
  const std::int64_t count = s.segment.chunk_end - s.segment.chunk_begin;
#pragma omp parallel for schedule(dynamic, 4) if (count > 1)
  for (std::int64_t c = 0; c < count; ++c)
    kernels::step_chunk<Op, T>(s.plan, s.scalars, first + c, /*lane=*/0, /*stride=*/1);
  // Every chunk has read its step count: now advance them (NOTE(step-count)).
  for (std::int32_t t = s.segment.tensor_begin; t < s.segment.tensor_end; ++t)
    kernels::finish_param<Op>(s.plan, s.scalars, t);
}

template <class T>
void zero_grad(const SegmentLaunch& s) {
  const std::int64_t first = s.segment.chunk_begin;
  const std::int64_t count = s.segment.chunk_end - s.segment.chunk_begin;
#pragma omp parallel for schedule(dynamic, 4) if (count > 1)
  for (std::int64_t c = 0; c < count; ++c) kernels::zero_chunk<T>(s.plan, first + c, 0, 1);
}

}  // namespace cpu

/// The optimizer step of `Op` over one segment.
template <class Op>
void run_step(const SegmentLaunch& s) {
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.device.is_cpu()) return cpu::step<Op, T>(s);
#if FUSEDOPT_WITH_CUDA
    DeviceGuard guard(s.device);
    kernels::launch_step<Op, T>(s.plan, s.scalars, s.segment, s.stream);
#endif
  });
}

inline void run_zero_grad(const SegmentLaunch& s) {
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.device.is_cpu()) return cpu::zero_grad<T>(s);
#if FUSEDOPT_WITH_CUDA
    DeviceGuard guard(s.device);
    kernels::launch_zero_grad<T>(s.plan, s.segment, s.stream);
#endif
  });
}

}  // namespace fusedopt::detail
