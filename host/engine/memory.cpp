#include "host/engine/memory.hpp"

#include <cstdlib>
#include <cstring>

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
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: not an error for this query
    return 0;
  }
  return count;
#else
  return 0;
#endif
}

bool cuda_available() { return cuda_device_count() > 0; }

namespace detail {

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

Buffer::Buffer(std::size_t bytes, Device device, Stream stream)
    : bytes_(bytes), device_(device), stream_(stream) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    const std::size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    data_ = std::aligned_alloc(kHostAlignment, rounded);
    if (data_ == nullptr) throw_error("out of host memory allocating ", bytes, " bytes");
    std::memset(data_, 0, bytes);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  DeviceGuard guard(device);
  FUSEDOPT_CUDA_CHECK(cudaMallocAsync(&data_, bytes, stream));
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
    : data_(other.data_), bytes_(other.bytes_), device_(other.device_), stream_(other.stream_) {
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
    (void)cudaFreeAsync(data_, stream_);
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
    throw_error(what, " = ", data, " is host memory but the view says ", device.str());
  if (attributes.type == cudaMemoryTypeDevice && attributes.device != device.index)
    throw_error(what, " = ", data, " lives on cuda:", attributes.device, " but the view says ",
                device.str());
#else
  (void)data;
  (void)what;
  no_cuda("check_pointer");
#endif
}

}  // namespace detail
}  // namespace fusedopt
