#pragma once
// Runs a functor over one segment of the plan on the segment's executor (the CUDA kernels of
// kernels/multi_tensor.cuh via launch.h, or the CPU executor below, which runs the very same
// per-chunk functions with one task per chunk across threads) and with the segment's Impl:
//   Fused:   one launch (CPU: one parallel loop) for the whole step;
//   Foreach: one launch per pass that runs for some group, over every chunk of the segment;
//   Loop:    per tensor, one launch per pass that runs for its group;
// Loop and Foreach then advance the step counts in one more launch (NOTE(passes)).
#include <array>
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

/// Which passes of `Op` run for the tensors of a segment (NOTE(passes)), evaluated once per
/// group: a segment's tensors come group by group, so walking them in order recomputes only
/// when the group changes.
template <class Op>
class GroupPasses {
 public:
  explicit GroupPasses(const SegmentLaunch& s) : s_(s) {}
  /// The IO of every pass for `group`.
  const std::array<kernels::PassIO, Op::kNumPasses>& io(std::int32_t group) {
    if (group != group_) {
      group_ = group;
      io_ = kernels::group_pass_io<Op>(s_.host_groups[group]);
      mask_ = 0;
      for (int pass = 0; pass < Op::kNumPasses; ++pass)
        if (io_[std::size_t(pass)].writes != 0) mask_ |= 1u << pass;
    }
    return io_;
  }
  /// Bit `pass` set when that pass runs for `group`.
  std::uint32_t mask(std::int32_t group) {
    io(group);
    return mask_;
  }
  /// Passes that run for some group of the segment (Impl::Foreach launches these).
  std::uint32_t segment_mask() {
    std::uint32_t mask = 0;
    for (const TensorInfo& t : s_.tensors) mask |= this->mask(t.group);
    return mask;
  }

 private:
  const SegmentLaunch& s_;
  std::int32_t group_ = -1;
  std::array<kernels::PassIO, Op::kNumPasses> io_{};
  std::uint32_t mask_ = 0;
};

namespace cpu {

template <class F>
void parallel_chunks(std::int64_t first, std::int64_t count, const F& f) {
#pragma omp parallel for schedule(dynamic, 4) if (count > 1)
  for (std::int64_t c = 0; c < count; ++c) f(first + c);
}

/// Every chunk has read its step count: now advance them (NOTE(step-count)).
template <class Op>
void finish(const SegmentLaunch& s) {
  for (std::int32_t t = s.segment.tensor_begin; t < s.segment.tensor_end; ++t)
    kernels::finish_param<Op>(s.plan, s.scalars, t);
}

template <class Op, class T>
void step(const SegmentLaunch& s) {
  const auto pass_over = [&](int pass, std::int64_t begin, std::int64_t end) {
    parallel_chunks(begin, end - begin, [&](std::int64_t c) {
      kernels::pass_chunk<Op, T>(s.plan, s.scalars, c, pass, /*lane=*/0, /*stride=*/1);
    });
  };
  if (s.impl == Impl::Fused) {
    parallel_chunks(s.segment.chunk_begin, s.segment.chunk_end - s.segment.chunk_begin,
                    [&](std::int64_t c) {
                      kernels::step_chunk<Op, T>(s.plan, s.scalars, c, /*lane=*/0, /*stride=*/1);
                    });
  } else if (s.impl == Impl::Foreach) {
    const std::uint32_t passes = GroupPasses<Op>(s).segment_mask();
    for (int pass = 0; pass < Op::kNumPasses; ++pass)
      if (passes >> pass & 1u) pass_over(pass, s.segment.chunk_begin, s.segment.chunk_end);
  } else {
    GroupPasses<Op> group_passes(s);
    for (const TensorInfo& t : s.tensors) {
      const std::uint32_t passes = group_passes.mask(t.group);
      for (int pass = 0; pass < Op::kNumPasses; ++pass)
        if (passes >> pass & 1u) pass_over(pass, t.chunk_begin, t.chunk_end);
    }
  }
  finish<Op>(s);
}

template <class T>
void zero_grad(const SegmentLaunch& s) {
  parallel_chunks(s.segment.chunk_begin, s.segment.chunk_end - s.segment.chunk_begin,
                  [&](std::int64_t c) { kernels::zero_chunk<T>(s.plan, c, 0, 1); });
}

}  // namespace cpu

#if FUSEDOPT_WITH_CUDA
namespace cuda {

template <class Op, class T>
void step(const SegmentLaunch& s) {
  if (s.impl == Impl::Fused)
    return kernels::launch_step<Op, T>(s.plan, s.scalars, s.segment, s.stream);
  if (s.impl == Impl::Foreach) {
    const std::uint32_t passes = GroupPasses<Op>(s).segment_mask();
    for (int pass = 0; pass < Op::kNumPasses; ++pass)
      if (passes >> pass & 1u)
        kernels::launch_pass<Op, T>(s.plan, s.scalars, s.segment.chunk_begin, s.segment.chunk_end,
                                    pass, s.stream);
  } else {
    GroupPasses<Op> group_passes(s);
    for (const TensorInfo& t : s.tensors) {
      const std::uint32_t passes = group_passes.mask(t.group);
      for (int pass = 0; pass < Op::kNumPasses; ++pass)
        if (passes >> pass & 1u)
          kernels::launch_pass<Op, T>(s.plan, s.scalars, t.chunk_begin, t.chunk_end, pass, s.stream);
    }
  }
  kernels::launch_finish<Op>(s.plan, s.scalars, s.segment, s.stream);
}

template <class T>
void zero_grad(const SegmentLaunch& s) {
  if (s.impl != Impl::Loop) return kernels::launch_zero_grad<T>(s.plan, s.segment, s.stream);
  for (const TensorInfo& t : s.tensors)
    kernels::launch_zero_grad_range<T>(s.plan, t.chunk_begin, t.chunk_end, s.stream);
}

}  // namespace cuda
#endif

/// The optimizer step of `Op` over one segment, with the segment's Impl.
template <class Op>
void run_step(const SegmentLaunch& s) {
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.device.is_cpu()) return cpu::step<Op, T>(s);
#if FUSEDOPT_WITH_CUDA
    DeviceGuard guard(s.device);
    cuda::step<Op, T>(s);
#endif
  });
}

inline void run_zero_grad(const SegmentLaunch& s) {
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.device.is_cpu()) return cpu::zero_grad<T>(s);
#if FUSEDOPT_WITH_CUDA
    DeviceGuard guard(s.device);
    cuda::zero_grad<T>(s);
#endif
  });
}

/// What one step of `Op` over a segment costs (fusedopt::StepCost).
template <class Op>
StepCost step_cost(const SegmentLaunch& s) {
  const double value_bytes = double(dtype_size(s.dtype));
  const auto list_bytes = [&](std::uint32_t mask) {
    double bytes = 0;
    for (int list = 0; list < kernels::kMaxLists; ++list)
      if (mask >> list & 1u) bytes += list < kernels::kFirstStateList ? value_bytes : 4.0;
    return bytes;
  };
  StepCost cost;
  GroupPasses<Op> group_passes(s);
  for (const TensorInfo& t : s.tensors) {
    const double n = double(t.numel);
    if (s.impl == Impl::Fused) {  // loads p, g and every state; stores p and every state
      cost.bytes += n * (3.0 * value_bytes + 8.0 * t.num_states);
      continue;
    }
    for (const kernels::PassIO& io : group_passes.io(t.group)) {
      if (io.writes == 0) continue;
      cost.bytes += n * (list_bytes(io.reads) + list_bytes(io.writes));
      if (s.impl == Impl::Loop) ++cost.launches;
    }
  }
  if (s.impl == Impl::Fused) {
    cost.launches = 1;
  } else {
    if (s.impl == Impl::Foreach) cost.launches = __builtin_popcount(group_passes.segment_mask());
    cost.launches += 1;  // step counts
  }
  return cost;
}

}  // namespace fusedopt::detail
