#pragma once
// The CUDA executor: one generic kernel per job, all logic in the functors (apply.h).
#include <cuda_runtime.h>

#include "kernels/engine/apply.h"
#include "kernels/engine/cuda_check.h"
#include "kernels/engine/launch.h"

namespace fusedopt::kernels {

// NOTE(step-count): every block of a step reads its parameter's step count, so none may
// increment it while others still read. Each block, after its update, bumps a per-segment
// counter (arrive_last); the block that arrives last advances the step count (and
// per-parameter scalar state) of every tensor in the segment and resets the counter. The whole
// step, step counts included, is therefore one launch and can be captured in a CUDA graph. The
// emulated device (host/engine/emulated_device.hpp) runs the same protocol on the CPU.
template <class Op>
__device__ void finish_step(const PlanView& plan, const StepScalars& scalars,
                            const Segment& segment) {
  __shared__ bool is_last_block;
  __syncthreads();  // every thread of this block has read the step counts it needs
  if (threadIdx.x == 0)
    is_last_block = arrive_last(scalars.done_blocks + segment.index, gridDim.x);
  __syncthreads();
  if (!is_last_block) return;
  __threadfence();  // every other block fenced its reads before arriving: they come first
  finish_tensors<Op>(plan, scalars, segment.tensor_begin, segment.tensor_end, threadIdx.x,
                     blockDim.x);
  if (threadIdx.x == 0) reset_arrivals(scalars.done_blocks + segment.index);
}

// NOTE(stochastic-rounding): kStochastic selects the kernel of segments in which some group
// rounds stochastically; the others get a kernel without the Philox path and its registers.
template <class Op, class T, bool kStochastic>
__global__ void __launch_bounds__(kThreads, 1)
    step_kernel(PlanView plan, StepScalars scalars, Segment segment) {
  step_chunk<Op, T, kStochastic>(plan, scalars, segment.chunk_begin + blockIdx.x, threadIdx.x,
                                 blockDim.x);
  finish_step<Op>(plan, scalars, segment);
}

/// Impl::Loop / Impl::Foreach: one pass over chunks [chunk_begin, chunk_begin + gridDim.x).
template <class Op, class T, bool kStochastic>
__global__ void __launch_bounds__(kThreads, 1)
    pass_kernel(PlanView plan, StepScalars scalars, std::int64_t chunk_begin, int pass) {
  pass_chunk<Op, T, kStochastic>(plan, scalars, chunk_begin + blockIdx.x, pass, threadIdx.x,
                                 blockDim.x);
}

/// After the last pass: step counts (and per-parameter scalar state) += 1, as torch's
/// _foreach_add_(state_steps, 1).
template <class Op>
__global__ void __launch_bounds__(kThreads, 1)
    finish_kernel(PlanView plan, StepScalars scalars, Segment segment) {
  finish_tensors<Op>(plan, scalars, segment.tensor_begin, segment.tensor_end,
                     std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x,
                     std::int64_t(gridDim.x) * blockDim.x);
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1)
    zero_grad_kernel(PlanView plan, std::int64_t chunk_begin) {
  zero_chunk<T>(plan, chunk_begin + blockIdx.x, threadIdx.x, blockDim.x);
}

template <class T>
void launch_zero_grad_range(const PlanView& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                            CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(chunk_end - chunk_begin);
  if (blocks == 0) return;
  zero_grad_kernel<T><<<blocks, kThreads, 0, stream>>>(plan, chunk_begin);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1)
    master_from_model_kernel(PlanView plan, std::int64_t chunk_begin) {
  master_from_model_chunk<T>(plan, chunk_begin + blockIdx.x, threadIdx.x, blockDim.x);
}

template <class T>
void launch_master_from_model(const PlanView& plan, std::int64_t chunk_begin,
                              std::int64_t chunk_end, CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(chunk_end - chunk_begin);
  if (blocks == 0) return;
  master_from_model_kernel<T><<<blocks, kThreads, 0, stream>>>(plan, chunk_begin);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class Op, class T>
void launch_step(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                 bool stochastic, CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(segment.chunk_end - segment.chunk_begin);
  if (blocks == 0) return;
  if constexpr (stores_bf16<T>()) {
    if (stochastic) {
      step_kernel<Op, T, true><<<blocks, kThreads, 0, stream>>>(plan, scalars, segment);
      FUSEDOPT_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  step_kernel<Op, T, false><<<blocks, kThreads, 0, stream>>>(plan, scalars, segment);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class Op, class T>
void launch_pass(const PlanView& plan, const StepScalars& scalars, std::int64_t chunk_begin,
                 std::int64_t chunk_end, int pass, bool stochastic, CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(chunk_end - chunk_begin);
  if (blocks == 0) return;
  if constexpr (stores_bf16<T>()) {
    if (stochastic) {
      pass_kernel<Op, T, true><<<blocks, kThreads, 0, stream>>>(plan, scalars, chunk_begin, pass);
      FUSEDOPT_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  pass_kernel<Op, T, false><<<blocks, kThreads, 0, stream>>>(plan, scalars, chunk_begin, pass);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class Op>
void launch_finish(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                   CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(finish_blocks(segment));
  if (blocks == 0) return;
  finish_kernel<Op><<<blocks, kThreads, 0, stream>>>(plan, scalars, segment);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace fusedopt::kernels

/// In the per-optimizer, per-dtype .cu files: every implementation of Op for storage type T.
#define FUSEDOPT_INSTANTIATE_STEP(Op, T)                                                      \
  template void launch_step<Op, T>(const PlanView&, const StepScalars&, const Segment&, bool, \
                                   CUstream_st*);                                             \
  template void launch_pass<Op, T>(const PlanView&, const StepScalars&, std::int64_t,         \
                                   std::int64_t, int, bool, CUstream_st*)
/// In each f16/bf16 optimizer file: every implementation of Op for storage T with an fp32
/// master copy (NOTE(master-weights)).
#define FUSEDOPT_INSTANTIATE_MASTER_STEP(Op, T) FUSEDOPT_INSTANTIATE_STEP(Op, Master<T>)
/// Once per Op (in its f32 file): the step-count launch of Impl::Loop and Impl::Foreach.
#define FUSEDOPT_INSTANTIATE_FINISH(Op) \
  template void launch_finish<Op>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*)
