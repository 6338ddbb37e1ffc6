#pragma once
// RAII memory for what fusedopt owns (state, plans, scalars) and the copies between host and
// device. CUDA memory is stream-ordered (cudaMallocAsync / cudaFreeAsync) where the device has
// memory pools, cudaMalloc / cudaFree elsewhere; host memory is 64-byte aligned. Without CUDA
// support every CUDA path throws Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fusedopt/optimizer.hpp"
#include "fusedopt/tensor.hpp"

namespace fusedopt::detail {

/// Makes `device` current for the scope (no-op for the CPU); restores the previous device.
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  [[maybe_unused]] int previous_ = -1;  // unused without CUDA
};

/// Zero-filled memory on `device`, freed on destruction (on the stream it is bound to).
class Buffer {
 public:
  Buffer() = default;
  Buffer(std::size_t bytes, Device device, Stream stream);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  /// Later frees happen on `stream` (the optimizer's stream changed).
  void bind_stream(Stream stream) { stream_ = stream; }

 private:
  void release() noexcept;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_ = Device::cpu();
  Stream stream_ = nullptr;
  bool pooled_ = false;  // cudaMallocAsync (freed stream-ordered) rather than cudaMalloc
};

/// This machine's physical memory in bytes (a host allocation larger than that is refused
/// with Error rather than left to the out-of-memory killer).
std::uint64_t physical_memory_bytes();

/// host -> device (stream-ordered; `src` may be reused on return) or host -> host.
void copy_from_host(void* dst, const void* src, std::size_t bytes, Device device, Stream stream);
/// device -> host; waits for the copy (and so for earlier work on `stream`).
void copy_to_host(void* dst, const void* src, std::size_t bytes, Device device, Stream stream);
/// Within one device, stream-ordered.
void copy_on_device(void* dst, const void* src, std::size_t bytes, Device device, Stream stream);
/// Waits for `stream` (no-op on the CPU).
void synchronize(Device device, Stream stream);
/// NOTE(capture): while `stream` is capturing a CUDA graph, only the launches of step(),
/// zero_grad() and AveragedModel::update() may run on it. Everything else fusedopt does copies
/// between host and device, allocates or synchronizes (setting hyper-parameters, schedulers,
/// add_param_group, set_impl, set_stream, state reads, checkpoints): captured, such a copy
/// would be illegal or would read a dead host address at every replay. Each of those calls
/// therefore checks first and throws Error while the stream captures. A graph replays the
/// kernels chosen at capture: turning on maximize, stochastic rounding, loss scaling or
/// clipping after it needs a new capture.
void require_not_capturing(Device device, Stream stream, const char* operation);

/// What cudaGetDeviceCount reported (a plain struct, so that tests can feed it failures).
struct DeviceCountQuery {
  bool ok = false;         // cudaSuccess
  bool no_device = false;  // cudaErrorNoDevice
  int count = 0;
  int driver_version = 0;  // cudaDriverGetVersion: 0 when no driver is installed
  int runtime_version = 0;
  std::string error;  // name and description of the error
};
/// The device count, or 0 when CUDA is absent (no device, no driver); throws Error naming the
/// failure when CUDA is present but broken (e.g. a driver older than the runtime), so that a
/// GPU machine never looks like a CPU-only one.
int interpret_device_count(const DeviceCountQuery& query);

/// Tests: allocate with cudaMalloc even where the device has memory pools (the fallback path).
void disable_memory_pools(bool disabled);

/// Throws unless `data` is memory `device` can address (CUDA: device or managed memory on it).
void check_pointer(const void* data, Device device, const char* what);

}  // namespace fusedopt::detail
