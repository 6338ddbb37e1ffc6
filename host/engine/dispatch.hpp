#pragma once
// The dispatch and launch helpers every executor shares: the optimizer step (executor.hpp) and
// the gradient utilities (host/amp/executor.cpp).
#include <cstdint>
#include <vector>

#include "fusedopt/error.hpp"
#include "fusedopt/tensor.hpp"
#include "host/engine/emulated_device.hpp"
#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"

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

/// The CPU executor: f(chunk) for chunks [first, first + count), one task each across threads.
template <class F>
void parallel_chunks(std::int64_t first, std::int64_t count, const F& f) {
#pragma omp parallel for schedule(dynamic, 4) if (count > 1)
  for (std::int64_t c = 0; c < count; ++c) f(first + c);
}

/// One emulated launch of `blocks` blocks of `threads` lanes (NOTE(emulated-device)): blocks
/// in a shuffled order; block(b, lanes) runs block b with `lanes`, a shuffled order of its
/// lanes.
template <class Block>
void emulated_launch(std::int64_t blocks, const Block& block, int threads = kernels::kThreads) {
  const std::vector<std::int64_t> lanes = emulated_order(threads);
  for (const std::int64_t b : emulated_order(blocks)) block(b, lanes);
}

}  // namespace fusedopt::detail
