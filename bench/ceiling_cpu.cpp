// The CPU same-traffic ceiling (ceiling.hpp).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>

#include "ceiling.hpp"
#include "host/engine/dispatch.hpp"
#include "kernels/engine/config.h"
#include "kernels/engine/cpu_isa.h"

namespace fusedopt::bench {
namespace {

// NOTE(ceiling-loop): one element loop over every stream of the pass at once, as the fused
// step's, so that the memory system sees the same interleaving of streams: the XOR of the
// streams read, stored (plus the list's index) into every stream written. The stream counts are
// template arguments, the loop is compiled per count like the optimizers' loops, and
// `#pragma GCC ivdep` states that the lists do not overlap (no runtime alias checks). Lists
// come in the order: read-write 4-byte, read-write 2-byte, read-only 4, read-only 2,
// write-only 2.
template <int kRw4, int kRw2, int kR4, int kR2, int kW2>
struct StreamLoop {
  static FUSEDOPT_CPU_LOOP void run(void* const* data, std::int64_t begin, std::int64_t end) {
    std::uint32_t* rw4[kRw4 + 1] = {};
    std::uint16_t* rw2[kRw2 + 1] = {};
    const std::uint32_t* r4[kR4 + 1] = {};
    const std::uint16_t* r2[kR2 + 1] = {};
    std::uint16_t* w2[kW2 + 1] = {};
    int l = 0;
    for (int k = 0; k < kRw4; ++k) rw4[k] = static_cast<std::uint32_t*>(data[l++]);
    for (int k = 0; k < kRw2; ++k) rw2[k] = static_cast<std::uint16_t*>(data[l++]);
    for (int k = 0; k < kR4; ++k) r4[k] = static_cast<const std::uint32_t*>(data[l++]);
    for (int k = 0; k < kR2; ++k) r2[k] = static_cast<const std::uint16_t*>(data[l++]);
    for (int k = 0; k < kW2; ++k) w2[k] = static_cast<std::uint16_t*>(data[l++]);
#pragma GCC ivdep
    for (std::int64_t i = begin; i < end; ++i) {
      std::uint32_t acc = 0x9e3779b9u;
      for (int k = 0; k < kRw4; ++k) acc ^= rw4[k][i];
      for (int k = 0; k < kRw2; ++k) acc ^= rw2[k][i];
      for (int k = 0; k < kR4; ++k) acc ^= r4[k][i];
      for (int k = 0; k < kR2; ++k) acc ^= r2[k][i];
      for (int k = 0; k < kRw4; ++k) rw4[k][i] = acc + std::uint32_t(k);
      for (int k = 0; k < kRw2; ++k) rw2[k][i] = std::uint16_t(acc + std::uint32_t(k));
      for (int k = 0; k < kW2; ++k) w2[k][i] = std::uint16_t(acc);
    }
  }
};

constexpr int kMaxRw = 6;  // the parameter (or master) and up to four state tensors, + spare
using RunStreams = void (*)(void* const*, std::int64_t, std::int64_t);

template <int kIndex>
void run_streams(void* const* data, std::int64_t begin, std::int64_t end) {
  constexpr int kRw4 = kIndex % kMaxRw, kRw2 = kIndex / kMaxRw % kMaxRw;
  constexpr int kR4 = kIndex / (kMaxRw * kMaxRw) % 2, kR2 = kIndex / (kMaxRw * kMaxRw * 2) % 2;
  constexpr int kW2 = kIndex / (kMaxRw * kMaxRw * 4) % 2;
  kernels::run_cpu_loop<StreamLoop<kRw4, kRw2, kR4, kR2, kW2>>(data, begin, end);
}

template <std::size_t... I>
constexpr std::array<RunStreams, sizeof...(I)> stream_table(std::index_sequence<I...>) {
  return {&run_streams<int(I)>...};
}
constexpr auto kStreamTable = stream_table(std::make_index_sequence<kMaxRw * kMaxRw * 8>{});

/// The compiled loop for `pass`, its lists reordered into `order` (indices into the pass).
RunStreams loop_for(const Pass& pass, std::vector<std::size_t>& order) {
  int counts[5] = {0, 0, 0, 0, 0};  // rw4, rw2, r4, r2, w2
  for (int kind = 0; kind < 5; ++kind)
    for (std::size_t l = 0; l < pass.size(); ++l) {
      const Stream& s = pass[l];
      const int k = s.read && s.write ? (s.width == 4 ? 0 : 1)
                    : s.read          ? (s.width == 4 ? 2 : 3)
                    : s.width == 2    ? 4
                                      : -1;
      if (k < 0) throw std::runtime_error("ceiling: a write-only 4-byte stream");
      if (k != kind) continue;
      ++counts[kind];
      order.push_back(l);
    }
  if (counts[0] >= kMaxRw || counts[1] >= kMaxRw || counts[2] > 1 || counts[3] > 1 ||
      counts[4] > 1)
    throw std::runtime_error("ceiling: no compiled loop for streams " + describe({pass}));
  return kStreamTable[std::size_t(counts[0] + kMaxRw * counts[1] + kMaxRw * kMaxRw * counts[2] +
                                  kMaxRw * kMaxRw * 2 * counts[3] +
                                  kMaxRw * kMaxRw * 4 * counts[4])];
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<void, FreeDeleter>;

Buffer allocate(std::size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (p == nullptr) throw std::runtime_error("ceiling: out of host memory");
  std::memset(p, 0x3c, bytes);  // first touch, as the optimizer's tensors have had
  return Buffer(p);
}

}  // namespace

double cpu_ceiling_seconds(const std::vector<Pass>& passes, std::int64_t n) {
  // Every pass its own arrays (a clipping row's gradient passes then touch other memory than
  // its step: the same traffic, which is what the ceiling is about).
  std::vector<Buffer> buffers;
  std::vector<std::vector<void*>> data(passes.size());
  std::vector<RunStreams> loops;
  for (std::size_t p = 0; p < passes.size(); ++p) {
    std::vector<std::size_t> order;
    loops.push_back(loop_for(passes[p], order));
    for (std::size_t l : order) {
      buffers.push_back(allocate(std::size_t(n) * std::size_t(passes[p][l].width)));
      data[p].push_back(buffers.back().get());
    }
  }
  Buffer flush = allocate(std::size_t(64) << 20);
  const std::int64_t chunk = kernels::kChunkSize;
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> seconds;
  for (int trial = 0; trial < 8; ++trial) {
    std::memset(flush.get(), trial, std::size_t(64) << 20);
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t p = 0; p < passes.size(); ++p)
      detail::parallel_chunks(0, chunks, [&](std::int64_t c) {
        loops[p](data[p].data(), c * chunk, std::min(n, (c + 1) * chunk));
      });
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (trial > 0) seconds.push_back(took.count());  // trial 0 warms up
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

std::string describe(const std::vector<Pass>& passes) {
  std::string out;
  for (const Pass& pass : passes) {
    std::string streams;
    int reads = 0, writes = 0;
    for (const Stream& s : pass) {
      streams += (streams.empty() ? "" : " ") + std::to_string(s.width) + (s.read ? "r" : "") +
                 (s.write ? "w" : "");
      reads += s.read;
      writes += s.write;
    }
    out += (out.empty() ? "" : " + ") + std::to_string(reads) + "R" + std::to_string(writes) +
           "W [" + streams + "]";
  }
  return out;
}

}  // namespace fusedopt::bench
