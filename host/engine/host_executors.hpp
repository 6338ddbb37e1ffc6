#pragma once
// The CPU executor and the emulated device's replay of the CUDA kernels, for the optimizer
// step: the definitions of run_cpu_step and run_emulated_step (declared in executor.hpp). Only
// the units generated from cmake/optimizers.cmake include this file, one per optimizer and
// storage layout (NOTE(one-list)): each compiles the CPU loops of its layout at every
// instruction-set level, so no other file pays for them.
#include <cstdint>
#include <vector>

#include "host/engine/dispatch.hpp"
#include "host/engine/executor.hpp"
#include "kernels/engine/apply.h"

namespace fusedopt::detail {

namespace cpu {

/// The CPU executor: one task per chunk across threads, the per-chunk functions with lane 0 of
/// stride 1 (their vectorizable CPU loops).
template <class Op, class T>
struct Executor {
  const SegmentLaunch& s;
  void fused() const {
    parallel_chunks(s.segment.chunk_begin, s.segment.chunk_end - s.segment.chunk_begin,
                    [&](std::int64_t c) {
                      kernels::step_chunk<Op, T>(s.plan, s.scalars, c, /*lane=*/0, /*stride=*/1);
                    });
    finish();
  }
  void pass(int pass, std::int64_t begin, std::int64_t end) const {
    parallel_chunks(begin, end - begin, [&](std::int64_t c) {
      kernels::pass_chunk<Op, T>(s.plan, s.scalars, c, pass, /*lane=*/0, /*stride=*/1);
    });
  }
  /// Every chunk has read its step count: now advance them (NOTE(step-count)).
  void finish() const {
    kernels::finish_tensors<Op>(s.plan, s.scalars, s.segment.tensor_begin, s.segment.tensor_end,
                                0, 1);
  }
};

}  // namespace cpu

namespace emulated {

/// Replays the CUDA executor's kernels (kernels/engine/multi_tensor.cuh) launch for launch.
template <class Op, class T>
struct Executor {
  const SegmentLaunch& s;
  static constexpr int kStride = kernels::kThreads;  // blockDim.x of pass and finish kernels
  /// step_kernel: the kernel variant launch_step picks (kStochastic, kUnscale) at its block
  /// size (step_threads, NOTE(launch-bounds)); every lane updates its share of the block's
  /// chunk with the block's constants prepared once (NOTE(block-constants)), then the block
  /// arrives on its tensor's counter (NOTE(step-count)).
  void fused() const {
    if constexpr (kernels::stores_bf16<T>()) {
      if (s.stochastic) return fused_with<true>();
    }
    fused_with<false>();
  }
  template <bool kStochastic>
  void fused_with() const {
    if (s.applies_grad_factors()) return fused_with<kStochastic, true>();
    fused_with<kStochastic, false>();
  }
  template <bool kStochastic, bool kUnscale>
  void fused_with() const {
    constexpr int kBlockThreads = kernels::step_threads<Op, T, kStochastic, kUnscale>();
    const std::int64_t blocks = s.segment.chunk_end - s.segment.chunk_begin;
    emulated_launch(blocks, [&](std::int64_t block, const std::vector<std::int64_t>& lanes) {
      // Thread 0 computes the constants (the first lane to need them here: the values do not
      // depend on the lane), every lane reads them.
      bool ready = false;
      kernels::BlockConstants<Op> constants{};
      const auto prepare = [&](const kernels::TensorEntry& t) -> const kernels::BlockConstants<Op>& {
        if (!ready) constants = kernels::block_constants<Op, kStochastic, kUnscale>(s.scalars, t);
        ready = true;
        return constants;
      };
      std::int32_t tensor = -1;
      for (const std::int64_t lane : lanes)
        tensor = kernels::step_chunk_lane<Op, T, kStochastic, kUnscale>(
            s.plan, s.scalars, s.segment.chunk_begin + block, int(lane), kBlockThreads, prepare);
      if (tensor >= 0) kernels::arrive_chunk<Op>(s.plan, s.scalars, tensor);  // thread 0
    }, kBlockThreads);
  }
  /// pass_kernel over chunks [begin, end).
  void pass(int pass, std::int64_t begin, std::int64_t end) const {
    emulated_launch(end - begin, [&](std::int64_t block, const std::vector<std::int64_t>& lanes) {
      for (const std::int64_t lane : lanes)
        kernels::pass_chunk<Op, T>(s.plan, s.scalars, begin + block, pass, int(lane), kStride);
    });
  }
  /// finish_kernel: one thread per tensor of the segment.
  void finish() const {
    const std::int64_t blocks = kernels::finish_blocks(s.segment);
    emulated_launch(blocks, [&](std::int64_t block, const std::vector<std::int64_t>& lanes) {
      for (const std::int64_t lane : lanes)
        kernels::finish_tensors<Op>(s.plan, s.scalars, s.segment.tensor_begin,
                                    s.segment.tensor_end, block * kStride + lane,
                                    blocks * kStride);
    });
  }
};

}  // namespace emulated

template <class Op, class T>
void run_cpu_step(const SegmentLaunch& s) {
  launch_step_sequence<Op>(s, cpu::Executor<Op, T>{s});
}

template <class Op, class T>
void run_emulated_step(const SegmentLaunch& s) {
  launch_step_sequence<Op>(s, emulated::Executor<Op, T>{s});
}

}  // namespace fusedopt::detail

/// In a generated instance unit: Op's step in host memory for storage T on the CPU executor,
/// and with the emulated device on both executors.
#define FUSEDOPT_INSTANTIATE_CPU_STEP(Op, T) template void run_cpu_step<Op, T>(const SegmentLaunch&)
#define FUSEDOPT_INSTANTIATE_HOST_STEP(Op, T) \
  FUSEDOPT_INSTANTIATE_CPU_STEP(Op, T);       \
  template void run_emulated_step<Op, T>(const SegmentLaunch&)
