#pragma once
// Same-traffic ceilings: for each benchmark row, a loop (CPU) or kernel (CUDA) that reads and
// writes the very streams the optimizer's fused step does, element for element, at the same
// storage widths and over the same number of elements, with trivial integer math in between.
// The row's time against it says how close the step comes to moving its bytes at the
// machine's rate; its own arithmetic, conversions, scheduling and launch costs are the rest.
#include <cstdint>
#include <string>
#include <vector>

namespace fusedopt::bench {

/// One array the step touches: its element width in bytes (2 or 4), read and/or written.
/// A list both read and written is updated in place, as the optimizer's are.
struct Stream {
  int width;
  bool read;
  bool write;
};
/// One sweep over all elements touching `streams`; a row's traffic is one or more passes
/// (e.g. in-step clipping: the gradients' norm, then the step).
using Pass = std::vector<Stream>;

/// "4r4w 2r ..." : a key and a label for a row's passes.
std::string describe(const std::vector<Pass>& passes);

/// Seconds the CPU takes for `passes` over `n` elements: over all OpenMP threads with the CPU
/// executor's partition (64K-element chunks), compiled for the CPU executor's instruction set,
/// each trial after a cache flush; the median of 7 trials after one warm-up.
double cpu_ceiling_seconds(const std::vector<Pass>& passes, std::int64_t n);

#if FUSEDOPT_WITH_CUDA
/// The same on the CUDA device: a grid-stride kernel with 16-byte accesses per pass, each trial
/// after an L2 flush by a read kernel (read_flush), timed with events; median of 11 trials
/// after two warm-up runs.
double cuda_ceiling_seconds(const std::vector<Pass>& passes, std::int64_t n);
/// Reads `bytes` of device memory at `buffer` (a kernel, not a memset: a memset may leave
/// written lines in L2 that then need writing back during the timed step).
void read_flush(const void* buffer, std::size_t bytes);
#endif

}  // namespace fusedopt::bench
