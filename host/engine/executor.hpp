#pragma once
// Runs a functor over one segment of the plan on the segment's executor and with its Impl. The
// executors: the CUDA kernels of kernels/engine/multi_tensor.cuh (via launch.h); the CPU
// executor, which runs the very same per-chunk functions with one task per chunk across
// threads; and, for tests, the emulated device, which replays the CUDA launches block by block
// and lane by lane on the CPU (NOTE(emulated-device)); the last two in host_executors.hpp. The
// launches of each Impl:
//   Fused:   one launch (CPU: one parallel loop) for the whole step;
//   Foreach: one launch per pass that runs for some group, over every chunk of the segment;
//   Loop:    per tensor, one launch per pass that runs for its group;
// Loop and Foreach then advance the step counts in one more launch (NOTE(passes)).
#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "host/engine/dispatch.hpp"
#include "host/engine/emulated_device.hpp"
#include "host/engine/engine.hpp"
#include "kernels/engine/apply.h"
#include "kernels/engine/dtype.h"
#if FUSEDOPT_WITH_CUDA
#include "kernels/engine/launch.h"
#endif

namespace fusedopt::detail {

/// Calls f(kernels::type_tag<T>{}) with T the segment's storage: its dtype's type, or
/// kernels::Master<that type> for a master-weights segment (NOTE(master-weights)). Ops that
/// never have master weights (kWithMaster false: the averaging ops) instantiate neither.
template <bool kWithMaster = true, class F>
void dispatch_segment(const SegmentLaunch& s, F&& f) {
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kWithMaster && std::is_same_v<T, kernels::BFloat16>) {  // NOTE(state-dtype)
      if (s.bf16_state && s.master_weights)
        return f(kernels::type_tag<kernels::Bf16State<kernels::Master<T>>>{});
      if (s.bf16_state) return f(kernels::type_tag<kernels::Bf16State<T>>{});
    }
    if constexpr (kWithMaster && !std::is_same_v<T, float>) {
      if (s.master_weights) return f(kernels::type_tag<kernels::Master<T>>{});
    }
    if (s.master_weights || s.bf16_state)
      throw_error("internal: a master-weights or bf16-state segment of an op without them");
    f(tag);
  });
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

/// The launches of one step of `Op` over a segment with its Impl, the same on every executor.
/// `x` launches: x.fused() (the whole step, step counts included), x.pass(pass, chunk_begin,
/// chunk_end) and x.finish() (the step counts, after the last pass).
template <class Op, class Executor>
void launch_step_sequence(const SegmentLaunch& s, const Executor& x) {
  if (s.impl == Impl::Fused) return x.fused();
#if !FUSEDOPT_UNFUSED
  throw_error("internal: an unfused step in a build without them");  // check_built threw first
#else
  if (s.impl == Impl::Foreach) {
    const std::uint32_t passes = GroupPasses<Op>(s).segment_mask();
    for (int pass = 0; pass < Op::kNumPasses; ++pass)
      if (passes >> pass & 1u) x.pass(pass, s.segment.chunk_begin, s.segment.chunk_end);
  } else {
    GroupPasses<Op> group_passes(s);
    for (const TensorInfo& t : s.tensors) {
      const std::uint32_t passes = group_passes.mask(t.group);
      for (int pass = 0; pass < Op::kNumPasses; ++pass)
        if (passes >> pass & 1u) x.pass(pass, t.chunk_begin, t.chunk_end);
    }
  }
  x.finish();
#endif
}

/// zero_grad's launches: one over the segment, or one per tensor for Impl::Loop.
template <class Launch>
void launch_zero_grad_sequence(const SegmentLaunch& s, const Launch& zero_chunks) {
  if (s.impl != Impl::Loop) return zero_chunks(s.segment.chunk_begin, s.segment.chunk_end);
  for (const TensorInfo& t : s.tensors) zero_chunks(t.chunk_begin, t.chunk_end);
}

/// Op's step over one segment in host memory, storage T: on the CPU executor, and on the
/// emulated device. Defined in host/engine/host_executors.hpp and instantiated once per
/// optimizer and storage layout, in the units generated from cmake/optimizers.cmake
/// (NOTE(one-list)): a file that runs a step compiles none of its loops.
template <class Op, class T>
void run_cpu_step(const SegmentLaunch& s);
template <class Op, class T>
void run_emulated_step(const SegmentLaunch& s);

namespace cpu {

template <class T>
void zero_grad(const SegmentLaunch& s) {
  parallel_chunks(s.segment.chunk_begin, s.segment.chunk_end - s.segment.chunk_begin,
                  [&](std::int64_t c) { kernels::zero_chunk<T>(s.plan, c, 0, 1); });
}

template <class T>
void master_from_model(const SegmentLaunch& s, std::int64_t begin, std::int64_t end) {
  parallel_chunks(begin, end - begin, [&](std::int64_t c) {
    kernels::master_from_model_chunk<T>(s.plan, c, 0, 1);
  });
}

}  // namespace cpu

namespace emulated {

/// zero_grad_kernel over chunks [begin, end).
template <class T>
void zero_grad_chunks(const SegmentLaunch& s, std::int64_t begin, std::int64_t end) {
  emulated_launch(end - begin, [&](std::int64_t block, const std::vector<std::int64_t>& lanes) {
    for (const std::int64_t lane : lanes)
      kernels::zero_chunk<T>(s.plan, begin + block, int(lane), kernels::kThreads);
  });
}

/// master_from_model_kernel over chunks [begin, end).
template <class T>
void master_from_model(const SegmentLaunch& s, std::int64_t begin, std::int64_t end) {
  emulated_launch(end - begin, [&](std::int64_t block, const std::vector<std::int64_t>& lanes) {
    for (const std::int64_t lane : lanes)
      kernels::master_from_model_chunk<T>(s.plan, begin + block, int(lane), kernels::kThreads);
  });
}

}  // namespace emulated

#if FUSEDOPT_WITH_CUDA
namespace cuda {

/// The CUDA executor: the kernels of kernels/engine/multi_tensor.cuh through launch.h.
template <class Op, class T>
struct Executor {
  const SegmentLaunch& s;
  void fused() const {
    kernels::launch_step<Op, T>(s.plan, s.scalars, s.segment, s.stochastic,
                                s.applies_grad_factors(), s.stream);
  }
  void pass(int pass, std::int64_t begin, std::int64_t end) const {
    kernels::launch_pass<Op, T>(s.plan, s.scalars, begin, end, pass, s.stochastic, s.stream);
  }
  void finish() const { kernels::launch_finish<Op>(s.plan, s.scalars, s.segment, s.stream); }
};

}  // namespace cuda
#endif

// NOTE(build-what-you-use): the configure options (CMakeLists.txt) choose the optimizers and
// storage types the library compiles. Each optimizer's host file is compiled with
// FUSEDOPT_BUILT_STORAGE, the bits (storage_bit) of the storage types its generated units
// instantiate (0: the optimizer was left out), and FUSEDOPT_LIST_NAME, its name in
// cmake/optimizers.cmake. A step checks every segment first (check_built), so asking for
// something left out throws before anything changes.
#ifndef FUSEDOPT_BUILT_STORAGE
#define FUSEDOPT_BUILT_STORAGE 127u
#define FUSEDOPT_LIST_NAME ""
#endif

/// The bit of storage type T in FUSEDOPT_BUILT_STORAGE (cmake/instances.cmake lists them).
template <class T>
constexpr std::uint32_t storage_bit() {
  using kernels::BFloat16, kernels::Half, kernels::Master, kernels::Bf16State;
  if constexpr (std::is_same_v<T, float>) return 1;
  if constexpr (std::is_same_v<T, Half>) return 2;
  if constexpr (std::is_same_v<T, BFloat16>) return 4;
  if constexpr (std::is_same_v<T, Master<Half>>) return 8;
  if constexpr (std::is_same_v<T, Master<BFloat16>>) return 16;
  if constexpr (std::is_same_v<T, Bf16State<BFloat16>>) return 32;
  if constexpr (std::is_same_v<T, Bf16State<Master<BFloat16>>>) return 64;
  return 0;
}

/// Throws fusedopt::Error, naming the configure option that would include it, unless `built`
/// (an optimizer's FUSEDOPT_BUILT_STORAGE) has the storage type of segment `s`. `optimizer`:
/// the class's name (e.g. "AdamW"); `list_name`: its line in cmake/optimizers.cmake.
/// `unfused`: whether this build has Impl::Loop and Impl::Foreach (FUSEDOPT_UNFUSED).
void check_built(std::uint32_t built, const SegmentLaunch& s, const char* optimizer,
                 const char* list_name, bool unfused = FUSEDOPT_UNFUSED);

/// The optimizer step of `Op` over one segment, with the segment's Impl. `kBuilt`: the storage
/// types compiled for Op (check_built has vetted the segment).
template <class Op, bool kWithMaster = true, std::uint32_t kBuilt = FUSEDOPT_BUILT_STORAGE>
void run_step(const SegmentLaunch& s) {
  dispatch_segment<kWithMaster>(s, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr ((kBuilt & storage_bit<T>()) == 0) {
      throw_error("internal: a step for a storage type this build left out");
    } else {
      if (s.device.is_cpu()) {
#if FUSEDOPT_EMULATED_DEVICE
        if (emulated_device()) return run_emulated_step<Op, T>(s);
#endif
        return run_cpu_step<Op, T>(s);
      }
#if FUSEDOPT_WITH_CUDA
      DeviceGuard guard(s.device);
      launch_step_sequence<Op>(s, cuda::Executor<Op, T>{s});
#endif
    }
  });
}

inline void run_zero_grad(const SegmentLaunch& s) {
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.device.is_cpu()) {
      if (!emulated_device()) return cpu::zero_grad<T>(s);
      return launch_zero_grad_sequence(s, [&](std::int64_t begin, std::int64_t end) {
        emulated::zero_grad_chunks<T>(s, begin, end);
      });
    }
#if FUSEDOPT_WITH_CUDA
    DeviceGuard guard(s.device);
    launch_zero_grad_sequence(s, [&](std::int64_t begin, std::int64_t end) {
      kernels::launch_zero_grad_range<T>(s.plan, begin, end, s.stream);
    });
#endif
  });
}

/// NOTE(master-weights): the fp32 master of every tensor of chunks [begin, end) of a master
/// segment set from its parameter.
inline void run_master_from_model(const SegmentLaunch& s, std::int64_t begin, std::int64_t end) {
  if (!s.master_weights || end <= begin) return;
  dispatch_dtype(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, float>) {  // f32 parameters have no master
      if (s.device.is_cpu()) {
        if (emulated_device()) return emulated::master_from_model<T>(s, begin, end);
        return cpu::master_from_model<T>(s, begin, end);
      }
#if FUSEDOPT_WITH_CUDA
      DeviceGuard guard(s.device);
      kernels::launch_master_from_model<T>(s.plan, begin, end, s.stream);
#endif
    }
  });
}

/// What one step of `Op` over a segment costs (fusedopt::StepCost): bytes moved by the byte
/// model, per element: the parameter (or its fp32 master) read and written, the gradient read,
/// every state read and written (fp32 or bf16), and with master weights the parameter written.
template <class Op>
StepCost step_cost(const SegmentLaunch& s) {
  const double value_bytes = double(dtype_size(s.dtype));
  const double param_bytes = s.master_weights ? 4.0 : value_bytes;  // what list 0 holds
  const double state_bytes = s.bf16_state ? 2.0 : 4.0;
  const auto list_bytes = [&](std::uint32_t mask) {
    double bytes = 0;
    for (int list = 0; list < kernels::kMaxLists; ++list)
      if (mask >> list & 1u)
        bytes += list == 0                        ? param_bytes
                 : list == 1                      ? value_bytes
                 : list < kernels::kFirstTempList ? state_bytes
                                                  : 4.0;
    return bytes;
  };
  const double model_write = s.master_weights ? value_bytes : 0.0;
  StepCost cost;
  GroupPasses<Op> group_passes(s);
  for (const TensorInfo& t : s.tensors) {
    const double n = double(t.numel);
    if (s.impl == Impl::Fused) {  // loads p, g and every state; stores p and every state
      cost.bytes +=
          n * (2.0 * param_bytes + value_bytes + model_write + 2.0 * state_bytes * t.num_states);
      continue;
    }
    for (const kernels::PassIO& io : group_passes.io(t.group)) {
      if (io.writes == 0) continue;
      cost.bytes += n * (list_bytes(io.reads) + list_bytes(io.writes) +
                         ((io.writes & kernels::kParamList) ? model_write : 0.0));
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
