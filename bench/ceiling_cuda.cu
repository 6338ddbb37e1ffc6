// The CUDA same-traffic ceiling and the L2 flush (ceiling.hpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ceiling.hpp"

namespace fusedopt::bench {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("ceiling: ") + what + ": " + cudaGetErrorString(status));
}

constexpr int kMaxStreams = 8;
constexpr int kThreads = 512;
constexpr int kElements = 8;  // per thread and iteration: 16 bytes of a 2-byte list, 32 of 4

struct DevicePass {
  void* data[kMaxStreams];
  int width[kMaxStreams];
  bool read[kMaxStreams];
  bool write[kMaxStreams];
  int count;
};

/// One pass: the XOR of every stream read, then every stream written from it (ceiling_cpu.cpp's
/// loop), 8 elements per thread with 16-byte loads and stores, every load of an iteration
/// issued before any is used; a scalar tail.
__global__ void __launch_bounds__(kThreads) ceiling_kernel(DevicePass pass, long long n) {
  const long long vectors = n / kElements;
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long v = (long long)blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += stride) {
    uint4 lo[kMaxStreams], hi[kMaxStreams];
#pragma unroll
    for (int l = 0; l < kMaxStreams; ++l) {
      lo[l] = hi[l] = make_uint4(0, 0, 0, 0);
      if (l < pass.count && pass.read[l]) {
        if (pass.width[l] == 4) {
          lo[l] = static_cast<const uint4*>(pass.data[l])[2 * v];
          hi[l] = static_cast<const uint4*>(pass.data[l])[2 * v + 1];
        } else {
          lo[l] = static_cast<const uint4*>(pass.data[l])[v];
        }
      }
    }
    unsigned acc[kElements];
#pragma unroll
    for (int e = 0; e < kElements; ++e) acc[e] = 0x9e3779b9u;
#pragma unroll
    for (int l = 0; l < kMaxStreams; ++l) {
      if (l >= pass.count || !pass.read[l]) continue;
      if (pass.width[l] == 4) {
        acc[0] ^= lo[l].x, acc[1] ^= lo[l].y, acc[2] ^= lo[l].z, acc[3] ^= lo[l].w;
        acc[4] ^= hi[l].x, acc[5] ^= hi[l].y, acc[6] ^= hi[l].z, acc[7] ^= hi[l].w;
      } else {
        const unsigned words[4] = {lo[l].x, lo[l].y, lo[l].z, lo[l].w};
#pragma unroll
        for (int w = 0; w < 4; ++w)
          acc[2 * w] ^= words[w] & 0xffffu, acc[2 * w + 1] ^= words[w] >> 16;
      }
    }
#pragma unroll
    for (int l = 0; l < kMaxStreams; ++l) {
      if (l >= pass.count || !pass.write[l]) continue;
      const unsigned salt = unsigned(l);
      if (pass.width[l] == 4) {
        uint4* dst = static_cast<uint4*>(pass.data[l]) + 2 * v;
        dst[0] = make_uint4(acc[0] + salt, acc[1] + salt, acc[2] + salt, acc[3] + salt);
        dst[1] = make_uint4(acc[4] + salt, acc[5] + salt, acc[6] + salt, acc[7] + salt);
      } else {
        unsigned words[4];
#pragma unroll
        for (int w = 0; w < 4; ++w)
          words[w] = ((acc[2 * w] + salt) & 0xffffu) | ((acc[2 * w + 1] + salt) << 16);
        static_cast<uint4*>(pass.data[l])[v] = make_uint4(words[0], words[1], words[2], words[3]);
      }
    }
  }
  for (long long i = vectors * kElements + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    unsigned acc = 0x9e3779b9u;
#pragma unroll
    for (int l = 0; l < kMaxStreams; ++l)  // constant indices: the pass stays in parameter space
      if (l < pass.count && pass.read[l])
        acc ^= pass.width[l] == 4 ? static_cast<const unsigned*>(pass.data[l])[i]
                                  : static_cast<const unsigned short*>(pass.data[l])[i];
#pragma unroll
    for (int l = 0; l < kMaxStreams; ++l) {
      if (l >= pass.count || !pass.write[l]) continue;
      if (pass.width[l] == 4)
        static_cast<unsigned*>(pass.data[l])[i] = acc + unsigned(l);
      else
        static_cast<unsigned short*>(pass.data[l])[i] = (unsigned short)(acc + unsigned(l));
    }
  }
}

/// Reads every 16-byte word of the buffer; writes only if the sum has an impossible value
/// (never), so that the loads cannot be dropped.
__global__ void __launch_bounds__(kThreads)
    read_flush_kernel(const uint4* buffer, long long words, unsigned* sink) {
  unsigned sum = 0;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < words;
       i += (long long)gridDim.x * blockDim.x) {
    const uint4 w = buffer[i];
    sum += w.x ^ w.y ^ w.z ^ w.w;
  }
  if (sum == 0x12345679u && words < 0) *sink = sum;
}

int grid_blocks(long long work_items) {
  int device = 0, sms = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "SM count");
  const long long wanted = (work_items + kThreads - 1) / kThreads;
  return int(std::max<long long>(1, std::min<long long>(wanted, 4LL * sms)));
}

/// Device memory freed at scope exit.
struct DeviceBuffer {
  void* data = nullptr;
  explicit DeviceBuffer(std::size_t bytes) {
    check(cudaMalloc(&data, bytes), "cudaMalloc");
    check(cudaMemset(data, 0x3c, bytes), "cudaMemset");
  }
  ~DeviceBuffer() { cudaFree(data); }  // destructor: nothing to report to
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  Events() {
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
};

}  // namespace

void read_flush(const void* buffer, std::size_t bytes) {
  const long long words = (long long)(bytes / sizeof(uint4));
  read_flush_kernel<<<grid_blocks(words), kThreads>>>(static_cast<const uint4*>(buffer), words,
                                                      nullptr);
  check(cudaGetLastError(), "read_flush launch");
}

double cuda_ceiling_seconds(const std::vector<Pass>& passes, std::int64_t n) {
  std::size_t lists = 0;
  int widest = 2;
  for (const Pass& pass : passes) {
    if (pass.size() > std::size_t(kMaxStreams))
      throw std::runtime_error("ceiling: too many streams");
    lists = std::max(lists, pass.size());
    for (const Stream& s : pass) widest = std::max(widest, s.width);
  }
  std::vector<std::unique_ptr<DeviceBuffer>> buffers;
  for (std::size_t l = 0; l < lists; ++l)
    buffers.push_back(std::make_unique<DeviceBuffer>(std::size_t(n) * std::size_t(widest)));
  int device = 0, l2 = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device), "L2 size");
  const std::size_t flush_bytes = std::max<std::size_t>(std::size_t(64) << 20, 4 * std::size_t(l2));
  DeviceBuffer flush(flush_bytes);
  std::vector<DevicePass> device_passes;
  for (const Pass& pass : passes) {
    DevicePass d{};
    d.count = int(pass.size());
    for (int l = 0; l < d.count; ++l) {
      d.data[l] = buffers[std::size_t(l)]->data;
      d.width[l] = pass[std::size_t(l)].width;
      d.read[l] = pass[std::size_t(l)].read;
      d.write[l] = pass[std::size_t(l)].write;
    }
    device_passes.push_back(d);
  }
  const int blocks = grid_blocks((n + kElements - 1) / kElements);
  Events events;
  std::vector<double> seconds;
  constexpr int kWarmup = 2, kTrials = 11;
  for (int trial = 0; trial < kWarmup + kTrials; ++trial) {
    read_flush(flush.data, flush_bytes);
    check(cudaEventRecord(events.start), "cudaEventRecord");
    for (const DevicePass& d : device_passes) ceiling_kernel<<<blocks, kThreads>>>(d, (long long)n);
    check(cudaGetLastError(), "ceiling launch");
    check(cudaEventRecord(events.stop), "cudaEventRecord");
    check(cudaEventSynchronize(events.stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, events.start, events.stop), "cudaEventElapsedTime");
    if (trial >= kWarmup) seconds.push_back(double(ms) * 1e-3);
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

}  // namespace fusedopt::bench
