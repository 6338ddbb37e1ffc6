#pragma once
// The CUDA executor: one generic kernel per job, all logic in the functors (apply.h).
#include <cuda_runtime.h>

#include "apply.h"
#include "cuda_check.h"
#include "launch.h"

namespace fusedopt::kernels {

// NOTE(step-count): every block of a step reads its parameter's step count, so none may
// increment it while others still read. Each block, after its update, bumps a per-segment
// counter; the block that arrives last (it sees count == gridDim.x - 1) advances the step count
// (and per-parameter scalar state) of every tensor in the segment and resets the counter. The whole step, step counts included,
// is therefore one launch and can be captured in a CUDA graph.
template <class Op>
__device__ void finish_step(const PlanView& plan, const StepScalars& scalars,
                                   const Segment& segment) {
  __shared__ bool is_last_block;
  __syncthreads();  // every thread of this block has read the step counts it needs
  if (threadIdx.x == 0) {
    __threadfence();
    const unsigned arrived = atomicAdd(scalars.done_blocks + segment.index, 1u);
    is_last_block = arrived == gridDim.x - 1;
  }
  __syncthreads();
  if (!is_last_block) return;
  __threadfence();
  for (std::int32_t t = segment.tensor_begin + threadIdx.x; t < segment.tensor_end; t += blockDim.x)
    finish_param<Op>(plan, scalars, t);
  if (threadIdx.x == 0) scalars.done_blocks[segment.index] = 0;
}

template <class Op, class T>
__global__ void __launch_bounds__(kThreads)
    step_kernel(PlanView plan, StepScalars scalars, Segment segment) {
  step_chunk<Op, T>(plan, scalars, segment.chunk_begin + blockIdx.x, threadIdx.x, blockDim.x);
  finish_step<Op>(plan, scalars, segment);
}

template <class T>
__global__ void __launch_bounds__(kThreads) zero_grad_kernel(PlanView plan, Segment segment) {
  zero_chunk<T>(plan, segment.chunk_begin + blockIdx.x, threadIdx.x, blockDim.x);
}

template <class Op, class T>
void launch_step(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                 CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(segment.chunk_end - segment.chunk_begin);
  if (blocks == 0) return;
  step_kernel<Op, T><<<blocks, kThreads, 0, stream>>>(plan, scalars, segment);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_zero_grad(const PlanView& plan, const Segment& segment, CUstream_st* stream) {
  const auto blocks = static_cast<unsigned>(segment.chunk_end - segment.chunk_begin);
  if (blocks == 0) return;
  zero_grad_kernel<T><<<blocks, kThreads, 0, stream>>>(plan, segment);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace fusedopt::kernels
