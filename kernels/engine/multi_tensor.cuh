#pragma once
// The CUDA executor: one generic kernel per job, all logic in the functors (apply.h).
#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/engine/apply.h"
#include "kernels/engine/cuda_check.h"
#include "kernels/engine/launch.h"

namespace fusedopt::kernels {

// NOTE(step-count): every block of a step reads its parameter's step count (thread 0, in
// block_constants), so none may advance it while another block of the same tensor still
// reads. Per-tensor completion: after its chunk, thread 0 of each block arrives on its tensor's
// counter (StepScalars::arrivals, one per parameter, zeroed by the host at allocation), and
// the block that completes the tensor's last chunk advances that tensor's step count (and
// per-parameter scalar state) and resets the counter to 0 for the next launch (arrive_chunk in
// apply.h). A one-chunk tensor's block advances it without a counter. Tensors finish as their
// own chunks do, spread over the whole launch, instead of one last block walking every tensor
// of the segment. Skipped steps (NOTE(amp)) and frozen parameters (NOTE(frozen)) neither
// update nor arrive. The whole step, step counts included, is one launch and can be captured
// in a CUDA graph. The emulated device (host/engine/executor.hpp) runs the same protocol.

/// NOTE(block-constants): the Prepare of update_range on the device: thread 0 computes the
/// block's constants into shared memory while the other threads' first loads are in flight.
template <class Op, bool kStochastic, bool kUnscale>
struct SharedBlockConstants {
  BlockConstants<Op>* shared;
  const StepScalars& scalars;
  __device__ __forceinline__ const BlockConstants<Op>& operator()(const TensorEntry& t) const {
    if (threadIdx.x == 0) *shared = block_constants<Op, kStochastic, kUnscale>(scalars, t);
    __syncthreads();
    return *shared;
  }
};

// NOTE(stochastic-rounding): kStochastic selects the kernel of segments in which some group
// rounds stochastically; the others get a kernel without the Philox path and its registers.
// NOTE(amp), NOTE(maximize): kUnscale selects the kernel that applies GradFactors, for steps
// that may scale gradients (may_scale_grads) and segments with a maximizing group; the others
// do nothing to the gradient they read.
// NOTE(launch-bounds): step_threads threads per block, at least two blocks per SM.
template <class Op, class T, bool kStochastic, bool kUnscale>
__global__ void __launch_bounds__(step_threads<Op, T, kStochastic, kUnscale>(), 2)
    step_kernel(PlanView plan, StepScalars scalars, Segment segment) {
  __shared__ alignas(BlockConstants<Op>) unsigned char constants[sizeof(BlockConstants<Op>)];
  const std::int32_t tensor = step_chunk_lane<Op, T, kStochastic, kUnscale>(
      plan, scalars, segment.chunk_begin + blockIdx.x, threadIdx.x,
      step_threads<Op, T, kStochastic, kUnscale>(),  // blockDim.x, known here
      SharedBlockConstants<Op, kStochastic, kUnscale>{
          reinterpret_cast<BlockConstants<Op>*>(constants), scalars});
  // Only thread 0 read the step count, so it arrives as soon as its own share is stored.
  if (tensor >= 0 && threadIdx.x == 0) arrive_chunk<Op>(plan, scalars, tensor);
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

template <class Op, class T, bool kStochastic>
void launch_step_kernel(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                        unsigned blocks, bool grad_factors, CUstream_st* stream) {
  if (grad_factors) {
    step_kernel<Op, T, kStochastic, true>
        <<<blocks, step_threads<Op, T, kStochastic, true>(), 0, stream>>>(plan, scalars, segment);
  } else {
    step_kernel<Op, T, kStochastic, false>
        <<<blocks, step_threads<Op, T, kStochastic, false>(), 0, stream>>>(plan, scalars, segment);
  }
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class Op, class T>
void launch_step(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                 bool stochastic, bool grad_factors, CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(segment.chunk_end - segment.chunk_begin);
  if (blocks == 0) return;
  if constexpr (stores_bf16<T>()) {
    if (stochastic)
      return launch_step_kernel<Op, T, true>(plan, scalars, segment, blocks, grad_factors, stream);
  }
  launch_step_kernel<Op, T, false>(plan, scalars, segment, blocks, grad_factors, stream);
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

/// In the per-optimizer, per-dtype .cu files: every implementation of Op for storage type T
/// (the unfused ones where FUSEDOPT_UNFUSED, NOTE(build-what-you-use)).
#define FUSEDOPT_INSTANTIATE_STEP(Op, T)                                                      \
  template void launch_step<Op, T>(const PlanView&, const StepScalars&, const Segment&, bool, \
                                   bool, CUstream_st*);                                       \
  FUSEDOPT_INSTANTIATE_PASS_(Op, T)
#if FUSEDOPT_UNFUSED
#define FUSEDOPT_INSTANTIATE_PASS_(Op, T)                                             \
  template void launch_pass<Op, T>(const PlanView&, const StepScalars&, std::int64_t, \
                                   std::int64_t, int, bool, CUstream_st*)
/// Once per Op (in its f32 file): the step-count launch of Impl::Loop and Impl::Foreach.
#define FUSEDOPT_INSTANTIATE_FINISH(Op) \
  template void launch_finish<Op>(const PlanView&, const StepScalars&, const Segment&, CUstream_st*)
#else
#define FUSEDOPT_INSTANTIATE_PASS_(Op, T) static_assert(true, "no unfused implementations")
#define FUSEDOPT_INSTANTIATE_FINISH(Op) static_assert(true, "no unfused implementations")
#endif
/// In each f16/bf16 optimizer file: every implementation of Op for storage T with an fp32
/// master copy (NOTE(master-weights)).
#define FUSEDOPT_INSTANTIATE_MASTER_STEP(Op, T) FUSEDOPT_INSTANTIATE_STEP(Op, Master<T>)
