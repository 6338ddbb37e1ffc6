#pragma once
// The plan of a gradient list (fusedopt::GradList) as its kernels see it: plain structs in
// device (or host) memory, built once by host/grad/grad_list.cpp.
//
// NOTE(grad-plan): tensors are grouped into segments by storage dtype (one launch per dtype
// present); within a segment each tensor owns max(1, ceil(numel / kChunkSize)) consecutive
// chunks (kernels/engine/plan.h's chunk_count), and one CUDA block (or CPU task) handles one
// chunk. Per-tensor results (tensor_norms) are in the caller's order, not the plan's.
#include <cstdint>

#include "kernels/engine/config.h"
#include "kernels/engine/plan.h"

namespace fusedopt::kernels::amp {

/// One gradient view.
struct GradTensor {
  void* data;
  std::int64_t numel;
  std::int64_t first_chunk;  // its chunks are [first_chunk, first_chunk + chunk_count(numel))
  std::int32_t index;        // position in the caller's list
  std::int32_t reserved;
};

/// Everything the kernels of one gradient list read and write.
struct GradPlan {
  const GradTensor* tensors;  // plan order (by dtype segment)
  const ChunkEntry* chunks;   // chunk -> (plan tensor, chunk of that tensor)
  std::int64_t num_chunks;
  std::int32_t num_tensors;
  std::int32_t chunk_levels;   // ceil(log2(most chunks of one tensor))
  std::int32_t tensor_levels;  // ceil(log2(num_tensors))
  std::int32_t reserved;
  // Scratch (NOTE(grad-norm)): written by every norm computation.
  float* chunk_partials;  // num_chunks
  float* tensor_values;   // num_tensors, caller order: the terms of the total
  float* tensor_norms;    // num_tensors, caller order
  float* total_norm;      // 1
  // NOTE(clip): the optimizer's in-step clip under AMP sees gradients times the loss scale;
  // with `norm_divisor` set (the loss scale), the finish also writes total / *norm_divisor, the
  // norm of the unscaled gradients torch's clip_grad_norm_ returns after unscale_.
  const float* norm_divisor;  // nullptr: unscaled_norm = total_norm
  float* unscaled_norm;       // 1
};

/// The elements of one chunk.
template <class T>
struct ChunkSpan {
  T* x;
  std::int64_t n;
};

template <class T>
FUSEDOPT_HD ChunkSpan<T> chunk_span(const GradPlan& plan, std::int64_t chunk) {
  const ChunkEntry c = plan.chunks[chunk];
  const GradTensor& t = plan.tensors[c.tensor];
  const std::int64_t begin = std::int64_t(c.chunk) * kChunkSize;
  const std::int64_t end = min_of(begin + kChunkSize, t.numel);
  return {static_cast<T*>(t.data) + begin, end > begin ? end - begin : 0};
}

}  // namespace fusedopt::kernels::amp
