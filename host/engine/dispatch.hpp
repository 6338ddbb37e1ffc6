#pragma once
// The dispatch and launch helpers every executor shares: the optimizer step (executor.hpp) and
// the gradient utilities (host/grad/executor.cpp).
#include <cstdint>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

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

/// Chunks a thread of the CPU executor takes at a time: 4 where there are enough for every
/// thread (fewer trips to the shared counter over 10,000 small tensors), fewer on short lists,
/// where a fixed 4 gave all of a 2-chunk step to one thread and left the other core idle.
inline int chunks_per_grab(std::int64_t count, int threads) {
  const std::int64_t per_thread = count / (2 * std::int64_t(threads > 0 ? threads : 1));
  return int(per_thread >= 4 ? 4 : per_thread >= 1 ? per_thread : 1);
}

/// The CPU executor: f(chunk) for chunks [first, first + count), one task each across threads.
template <class F>
void parallel_chunks(std::int64_t first, std::int64_t count, const F& f) {
#if defined(_OPENMP)
  const int grab = chunks_per_grab(count, omp_get_max_threads());
#pragma omp parallel for schedule(dynamic, grab) if (count > 1)
#endif
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
