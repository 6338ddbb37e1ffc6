#include "host/engine/memory.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fusedopt/error.hpp"

#if FUSEDOPT_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/engine/cuda_check.h"
#endif

namespace fusedopt {

namespace {
constexpr std::size_t kHostAlignment = 64;
[[noreturn, maybe_unused]] void no_cuda(const char* what) {
  detail::throw_error(what, ": fusedopt was built without CUDA support");
}
}  // namespace

int cuda_device_count() {
#if FUSEDOPT_WITH_CUDA
  detail::DeviceCountQuery query;
  const cudaError_t status = cudaGetDeviceCount(&query.count);
  query.ok = status == cudaSuccess;
  if (!query.ok) {
    (void)cudaGetLastError();
    query.no_device = status == cudaErrorNoDevice;
    query.error = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    (void)cudaDriverGetVersion(&query.driver_version);  // 0 when no driver is installed
    (void)cudaRuntimeGetVersion(&query.runtime_version);
  }
  return detail::interpret_device_count(query);
#else
  return 0;
#endif
}

bool cuda_available() { return cuda_device_count() > 0; }

namespace detail {

int interpret_device_count(const DeviceCountQuery& query) {
  if (query.ok) return query.count;
  // No device, or no NVIDIA driver at all: CUDA is absent, not broken.
  if (query.no_device || query.driver_version == 0) return 0;
  throw_error("CUDA is installed but unusable: cudaGetDeviceCount failed with ", query.error,
              " (the driver supports CUDA ", query.driver_version, ", the runtime is CUDA ",
              query.runtime_version, ")");
}

namespace {
std::atomic<bool> g_memory_pools_disabled{false};
}  // namespace

void disable_memory_pools(bool disabled) { g_memory_pools_disabled = disabled; }

void require_not_capturing(Device device, Stream stream, const char* operation) {
  if (!device.is_cuda()) return;
#if FUSEDOPT_WITH_CUDA
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  const cudaError_t status = cudaStreamIsCapturing(stream, &capture);
  if (status == cudaSuccess && capture == cudaStreamCaptureStatusNone) return;
  (void)cudaGetLastError();
  throw_error(operation, ": not allowed while stream ", static_cast<const void*>(stream),
              " is capturing a CUDA graph",
              status == cudaSuccess ? std::string() : std::string(" (") + cudaGetErrorName(status) + ")",
              "; only step(), zero_grad() and AveragedModel::update() are capture-safe "
              "(NOTE(capture) in host/engine/memory.hpp)");
#else
  (void)stream;
  (void)operation;
#endif
}

DeviceGuard::DeviceGuard(Device device) {
  if (!device.is_cuda()) return;
#if FUSEDOPT_WITH_CUDA
  FUSEDOPT_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device.index) {
    FUSEDOPT_CUDA_CHECK(cudaSetDevice(device.index));
  } else {
    previous_ = -1;
  }
#else
  no_cuda("DeviceGuard");
#endif
}

DeviceGuard::~DeviceGuard() {
#if FUSEDOPT_WITH_CUDA
  if (previous_ >= 0) (void)cudaSetDevice(previous_);  // destructor: cannot throw
#endif
}

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;  // unknown: no limit
  return std::uint64_t(pages) * std::uint64_t(page);
}

Buffer::Buffer(std::size_t bytes, Device device, Stream stream)
    : bytes_(bytes), device_(device), stream_(stream) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    if (bytes > physical_memory_bytes())
      throw_error("out of host memory: allocating ", bytes, " bytes, more than this machine's ",
                  physical_memory_bytes());
    const std::size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    data_ = std::aligned_alloc(kHostAlignment, rounded);
    if (data_ == nullptr) throw_error("out of host memory allocating ", bytes, " bytes");
    std::memset(data_, 0, bytes);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  require_not_capturing(device, stream, "allocating optimizer memory");
  DeviceGuard guard(device);
  // Stream-ordered allocation where the device has memory pools; plain cudaMalloc elsewhere
  // (some virtualized and older devices, and Windows' TCC/WDDM setups, report none).
  int pools = 0;
  FUSEDOPT_CUDA_CHECK(
      cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device.index));
  pooled_ = pools != 0 && !g_memory_pools_disabled;
  if (pooled_) {
    FUSEDOPT_CUDA_CHECK(cudaMallocAsync(&data_, bytes, stream));
  } else {
    FUSEDOPT_CUDA_CHECK(cudaMalloc(&data_, bytes));
  }
  const cudaError_t status = cudaMemsetAsync(data_, 0, bytes, stream);
  if (status != cudaSuccess) {
    release();
    FUSEDOPT_CUDA_CHECK(status);
  }
#else
  no_cuda("Buffer");
#endif
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& other) noexcept
    : data_(other.data_),
      bytes_(other.bytes_),
      device_(other.device_),
      stream_(other.stream_),
      pooled_(other.pooled_) {
  other.data_ = nullptr;
  other.bytes_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    bytes_ = other.bytes_;
    device_ = other.device_;
    stream_ = other.stream_;
    pooled_ = other.pooled_;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void Buffer::release() noexcept {
  if (data_ == nullptr) return;
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
#if FUSEDOPT_WITH_CUDA
    int previous = -1;
    if (cudaGetDevice(&previous) == cudaSuccess && previous != device_.index)
      (void)cudaSetDevice(device_.index);
    // Errors here (e.g. a context torn down at exit) cannot be reported from a destructor.
    // cudaFree waits for the device, so work still queued on the memory finishes first.
    if (pooled_) {
      (void)cudaFreeAsync(data_, stream_);
    } else {
      (void)cudaFree(data_);
    }
    if (previous >= 0 && previous != device_.index) (void)cudaSetDevice(previous);
#endif
  }
  data_ = nullptr;
  bytes_ = 0;
}

void copy_from_host(void* dst, const void* src, std::size_t bytes, Device device, Stream stream) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  require_not_capturing(device, stream, "copying host memory to the device");
  DeviceGuard guard(device);
  FUSEDOPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
#else
  (void)stream;
  no_cuda("copy_from_host");
#endif
}

void copy_to_host(void* dst, const void* src, std::size_t bytes, Device device, Stream stream) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  require_not_capturing(device, stream, "reading device memory back to the host");
  DeviceGuard guard(device);
  FUSEDOPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  FUSEDOPT_CUDA_CHECK(cudaStreamSynchronize(stream));
#else
  (void)stream;
  no_cuda("copy_to_host");
#endif
}

void copy_on_device(void* dst, const void* src, std::size_t bytes, Device device, Stream stream) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    std::memmove(dst, src, bytes);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  require_not_capturing(device, stream, "copying device memory");
  DeviceGuard guard(device);
  FUSEDOPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
#else
  (void)stream;
  no_cuda("copy_on_device");
#endif
}

void synchronize(Device device, Stream stream) {
  if (device.is_cpu()) return;
#if FUSEDOPT_WITH_CUDA
  require_not_capturing(device, stream, "waiting for the stream");
  DeviceGuard guard(device);
  FUSEDOPT_CUDA_CHECK(cudaStreamSynchronize(stream));
#else
  (void)stream;
  no_cuda("synchronize");
#endif
}

void check_pointer(const void* data, Device device, const char* what) {
  if (!device.is_cuda()) return;
#if FUSEDOPT_WITH_CUDA
  cudaPointerAttributes attributes{};
  const cudaError_t status = cudaPointerGetAttributes(&attributes, data);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    throw_error(what, " = ", data, " is not a pointer CUDA knows (", cudaGetErrorName(status), ")");
  }
  if (attributes.type != cudaMemoryTypeDevice && attributes.type != cudaMemoryTypeManaged)
    throw_error(what, " = ", data, " is host memory, not memory of its device ", device.str());
  if (attributes.type == cudaMemoryTypeDevice && attributes.device != device.index)
    throw_error(what, " = ", data, " lives on device cuda:", attributes.device,
                ", not on its device ", device.str());
#else
  (void)data;
  (void)what;
  no_cuda("check_pointer");
#endif
}

}  // namespace detail
}  // namespace fusedopt
