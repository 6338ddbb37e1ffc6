#pragma once
// The gradient utilities' CUDA kernels: one generic line each, the logic in grad_norm.h and
// grad_ops.h (shared with the CPU executor and the emulated device).
#include <cuda_runtime.h>

#include "kernels/grad/launch.h"
#include "kernels/engine/cuda_check.h"

namespace fusedopt::kernels::amp {

template <NormKind K, class T>
__global__ void __launch_bounds__(kThreads, 1)
    norm_chunks_kernel(GradPlan plan, std::int64_t chunk_begin, NormArgs args) {
  __shared__ float partials[kThreads];
  const std::int64_t chunk = chunk_begin + blockIdx.x;
  const ChunkSpan<T> span = chunk_span<T>(plan, chunk);
  partials[threadIdx.x] = lane_partial<K, T>(span.x, span.n, int(threadIdx.x), args);
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    lane_tree_level<K>(partials, int(threadIdx.x), s);
    __syncthreads();
  }
  if (threadIdx.x == 0) plan.chunk_partials[chunk] = partials[0];
}

template <NormKind K>
__global__ void __launch_bounds__(kThreads, 1) norm_finish_kernel(GradPlan plan, NormArgs args) {
  finish_phases<K>(plan, args, [](const auto& phase) {
    phase(std::int64_t(threadIdx.x), std::int64_t(blockDim.x));
    __syncthreads();
  });
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1)
    scale_kernel(GradPlan plan, std::int64_t chunk_begin, const float* total_norm, float max_norm) {
  const ChunkSpan<T> span = chunk_span<T>(plan, chunk_begin + blockIdx.x);
  scale_chunk<T>(span.x, span.n, clip_coefficient(*total_norm, max_norm), int(threadIdx.x),
                 int(blockDim.x));
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1)
    clamp_kernel(GradPlan plan, std::int64_t chunk_begin, float lo, float hi) {
  const ChunkSpan<T> span = chunk_span<T>(plan, chunk_begin + blockIdx.x);
  clamp_chunk<T>(span.x, span.n, lo, hi, int(threadIdx.x), int(blockDim.x));
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1)
    check_unscale_kernel(GradPlan plan, std::int64_t chunk_begin, UnscaleArgs args) {
  const ChunkSpan<T> span = chunk_span<T>(plan, chunk_begin + blockIdx.x);
  check_unscale_chunk<T>(span.x, span.n, args, int(threadIdx.x), int(blockDim.x));
}

inline unsigned blocks_of(std::int64_t chunk_begin, std::int64_t chunk_end) {
  return static_cast<unsigned>(chunk_end - chunk_begin);
}

template <NormKind K, class T>
void launch_norm_chunks(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                        const NormArgs& args, CUstream_st* stream) {
  if (chunk_end <= chunk_begin) return;
  norm_chunks_kernel<K, T><<<blocks_of(chunk_begin, chunk_end), kThreads, 0, stream>>>(
      plan, chunk_begin, args);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <NormKind K>
void launch_norm_finish(const GradPlan& plan, const NormArgs& args, CUstream_st* stream) {
  norm_finish_kernel<K><<<1, kThreads, 0, stream>>>(plan, args);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_scale(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                  const float* total_norm, float max_norm, CUstream_st* stream) {
  if (chunk_end <= chunk_begin) return;
  scale_kernel<T><<<blocks_of(chunk_begin, chunk_end), kThreads, 0, stream>>>(
      plan, chunk_begin, total_norm, max_norm);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_clamp(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end, float lo,
                  float hi, CUstream_st* stream) {
  if (chunk_end <= chunk_begin) return;
  clamp_kernel<T><<<blocks_of(chunk_begin, chunk_end), kThreads, 0, stream>>>(plan, chunk_begin,
                                                                              lo, hi);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_check_unscale(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                          const UnscaleArgs& args, CUstream_st* stream) {
  if (chunk_end <= chunk_begin) return;
  check_unscale_kernel<T><<<blocks_of(chunk_begin, chunk_end), kThreads, 0, stream>>>(
      plan, chunk_begin, args);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace fusedopt::kernels::amp

/// In kernels/instances/grad_utils_<dtype>.cu: every per-dtype kernel of storage type T.
#define FUSEDOPT_INSTANTIATE_GRAD_UTILS(T)                                                       \
  template void launch_norm_chunks<NormKind::l1, T>(const GradPlan&, std::int64_t, std::int64_t, \
                                                    const NormArgs&, CUstream_st*);              \
  template void launch_norm_chunks<NormKind::l2, T>(const GradPlan&, std::int64_t, std::int64_t, \
                                                    const NormArgs&, CUstream_st*);              \
  template void launch_norm_chunks<NormKind::inf, T>(const GradPlan&, std::int64_t,              \
                                                     std::int64_t, const NormArgs&,              \
                                                     CUstream_st*);                              \
  template void launch_norm_chunks<NormKind::p, T>(const GradPlan&, std::int64_t, std::int64_t,  \
                                                   const NormArgs&, CUstream_st*);               \
  template void launch_scale<T>(const GradPlan&, std::int64_t, std::int64_t, const float*,       \
                                float, CUstream_st*);                                            \
  template void launch_clamp<T>(const GradPlan&, std::int64_t, std::int64_t, float, float,       \
                                CUstream_st*);                                                   \
  template void launch_check_unscale<T>(const GradPlan&, std::int64_t, std::int64_t,             \
                                        const UnscaleArgs&, CUstream_st*)
