#include "test_util.hpp"

#include <random>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <cstdlib>

#include "host/engine/emulated_device.hpp"

#if FUSEDOPT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace fusedopt::testing {

DeviceBytes::DeviceBytes(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    data_ = static_cast<unsigned char*>(std::aligned_alloc(256, (bytes + 255) / 256 * 256));
    return;
  }
#if FUSEDOPT_WITH_CUDA
  if (cudaSetDevice(device.index) != cudaSuccess || cudaMalloc(&data_, bytes) != cudaSuccess)
    throw std::runtime_error("cudaMalloc failed in a test");
#else
  throw std::runtime_error("CUDA memory requested in a build without CUDA");
#endif
}

DeviceBytes::~DeviceBytes() {
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
#if FUSEDOPT_WITH_CUDA
    cudaFree(data_);
#endif
  }
}

void DeviceBytes::upload(const std::vector<unsigned char>& host) {
  if (device_.is_cpu()) {
    std::memcpy(data_, host.data(), bytes_);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  // From pageable memory cudaMemcpy may return before the DMA has landed, and the legacy
  // stream does not order the optimizer's non-blocking streams: wait for the device.
  if (cudaMemcpy(data_, host.data(), bytes_, cudaMemcpyHostToDevice) != cudaSuccess ||
      cudaDeviceSynchronize() != cudaSuccess)
    throw std::runtime_error("cudaMemcpy H2D failed in a test");
#endif
}

std::vector<unsigned char> DeviceBytes::download() const {
  std::vector<unsigned char> host(bytes_);
  if (device_.is_cpu()) {
    std::memcpy(host.data(), data_, bytes_);
    return host;
  }
#if FUSEDOPT_WITH_CUDA
  // cudaMemcpy on the legacy default stream waits for the optimizer's work on it.
  if (cudaDeviceSynchronize() != cudaSuccess ||
      cudaMemcpy(host.data(), data_, bytes_, cudaMemcpyDeviceToHost) != cudaSuccess)
    throw std::runtime_error("cudaMemcpy D2H failed in a test");
#endif
  return host;
}

GuardedTensor::GuardedTensor(std::int64_t numel, DType dtype, Device device, int misalign)
    : numel_(numel),
      dtype_(dtype),
      device_(device),
      offset_(kGuard + std::size_t(misalign) * dtype_size(dtype)),
      bytes_(offset_ + std::size_t(numel) * dtype_size(dtype) + kGuard, device) {
  set(std::vector<double>(std::size_t(numel), 0.0));
}

TensorView GuardedTensor::view() const {
  return {bytes_.data() + offset_, numel_, dtype_, device_};
}

void GuardedTensor::set(const std::vector<double>& values) {
  std::vector<unsigned char> host(bytes_.size(), kPoison);
  unsigned char* data = host.data() + offset_;
  const std::size_t size = dtype_size(dtype_);
  for (std::size_t i = 0; i < std::size_t(numel_); ++i) encode(dtype_, values[i], data + i * size);
  bytes_.upload(host);
}

void GuardedTensor::poison() { bytes_.upload(std::vector<unsigned char>(bytes_.size(), kPoison)); }

std::vector<double> GuardedTensor::get() const {
  const std::vector<unsigned char> host = bytes_.download();
  std::vector<double> values(static_cast<std::size_t>(numel_));
  const unsigned char* data = host.data() + offset_;
  const std::size_t size = dtype_size(dtype_);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = decode(dtype_, data + i * size);
  return values;
}

bool GuardedTensor::guards_intact() const {
  const std::vector<unsigned char> host = bytes_.download();
  const std::size_t end = offset_ + std::size_t(numel_) * dtype_size(dtype_);
  for (std::size_t i = 0; i < offset_; ++i)
    if (host[i] != kPoison) return false;
  for (std::size_t i = end; i < host.size(); ++i)
    if (host[i] != kPoison) return false;
  return true;
}

void copy_view_to_host(const TensorView& view, void* dst) {
  const std::size_t bytes = std::size_t(view.numel) * dtype_size(view.dtype);
  if (bytes == 0) return;
  if (view.device.is_cpu()) {
    std::memcpy(dst, view.data, bytes);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  if (cudaDeviceSynchronize() != cudaSuccess ||
      cudaMemcpy(dst, view.data, bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
    throw std::runtime_error("cudaMemcpy D2H failed in a test");
#endif
}

bool gpu_required() {
  const char* value = std::getenv("FUSEDOPT_REQUIRE_GPU");
  return value != nullptr && std::string(value) == "1";
}

bool in_ci() {
  const char* value = std::getenv("CI");
  return value != nullptr && (std::string(value) == "true" || std::string(value) == "1");
}

UseExecutor::UseExecutor(Executor executor) : executor_(executor) {
  if (executor == Executor::emulated) seed_ = fresh_seed();
  detail::set_emulated_device(executor == Executor::emulated, seed_);
}

UseExecutor::~UseExecutor() { detail::set_emulated_device(false); }

#if defined(_OPENMP)
UseThreads::UseThreads(int threads) : before_(omp_get_max_threads()) { omp_set_num_threads(threads); }
UseThreads::~UseThreads() { omp_set_num_threads(before_); }
bool UseThreads::available() { return true; }
#else
UseThreads::UseThreads(int threads) { (void)before_, (void)threads; }
UseThreads::~UseThreads() = default;
bool UseThreads::available() { return false; }
#endif

std::string UseExecutor::description() const {
  if (executor_ != Executor::emulated) return std::string("executor ") + to_string(executor_);
  return "executor emulated (block and lane order seed " + std::to_string(seed_) +
         "; FUSEDOPT_TEST_SEED fixes it)";
}

void fill_view_bytes(const TensorView& view, unsigned char byte) {
  const std::size_t bytes = std::size_t(view.numel) * dtype_size(view.dtype);
  if (bytes == 0) return;
  if (view.device.is_cpu()) {
    std::memset(view.data, byte, bytes);
    return;
  }
#if FUSEDOPT_WITH_CUDA
  if (cudaDeviceSynchronize() != cudaSuccess || cudaMemset(view.data, byte, bytes) != cudaSuccess ||
      cudaDeviceSynchronize() != cudaSuccess)
    throw std::runtime_error("cudaMemset failed in a test");
#endif
}

SteppedModel::SteppedModel(Device device, std::uint64_t seed,
                           const std::vector<std::vector<Spec>>& layout, int steps,
                           bool short_gradients) {
  std::mt19937_64 rng(seed);
  for (const auto& group : layout) {
    std::vector<Param> params;
    for (const Spec& spec : group) {
      values_.push_back(std::make_unique<GuardedTensor>(spec.numel, spec.dtype, device));
      grads_.push_back(std::make_unique<GuardedTensor>(spec.numel, spec.dtype, device));
      values_.back()->set(random_values(rng, spec.numel, 1.0, spec.dtype));
      std::vector<std::vector<double>> per_step;
      for (int s = 0; s < steps; ++s) {
        per_step.push_back(random_values(rng, spec.numel, 0.5, spec.dtype));
        if (short_gradients)
          for (double& x : per_step.back()) {
            int e = 0;
            const double m = std::frexp(x, &e);
            x = std::ldexp(std::round(std::ldexp(m, 6)), e - 6);
          }
      }
      step_grads_.push_back(std::move(per_step));
      params.push_back({values_.back()->view(), grads_.back()->view()});
    }
    groups_.push_back(std::move(params));
  }
}

void SteppedModel::load_grads(int step, double factor) {
  for (std::size_t t = 0; t < grads_.size(); ++t) {
    std::vector<double> g = step_grads_[t][std::size_t(step)];
    for (double& x : g) x *= factor;
    grads_[t]->set(g);
  }
}

void SteppedModel::poison_grads(double value) {
  for (auto& g : grads_) g->set(std::vector<double>(std::size_t(g->numel()), value));
}

std::vector<std::vector<double>> SteppedModel::values() const {
  std::vector<std::vector<double>> out;
  for (const auto& v : values_) out.push_back(v->get());
  return out;
}

std::uint64_t fresh_seed() {
  if (const char* fixed = std::getenv("FUSEDOPT_TEST_SEED"))  // reproduce a reported failure
    return std::strtoull(fixed, nullptr, 10);
  std::random_device device;
  return (std::uint64_t(device()) << 32) ^ std::uint64_t(device());
}

std::vector<std::string> listed_optimizers() {
  std::vector<std::string> names;
#define FUSEDOPT_TEST_LISTED(Class, Options) names.push_back(Options::kOptimizer);
  FUSEDOPT_FOR_EACH_OPTIMIZER(FUSEDOPT_TEST_LISTED)
#undef FUSEDOPT_TEST_LISTED
  return names;
}

std::vector<std::string> uncovered_optimizers(const std::vector<std::string>& case_names,
                                              const std::vector<std::string>& exempt) {
  std::vector<std::string> uncovered;
  for (const std::string& optimizer : listed_optimizers()) {
    if (std::find(exempt.begin(), exempt.end(), optimizer) != exempt.end()) continue;
    const bool covered = std::any_of(case_names.begin(), case_names.end(), [&](const auto& name) {
      return name == optimizer || name.rfind(optimizer + "_", 0) == 0;
    });
    if (!covered) uncovered.push_back(optimizer);
  }
  return uncovered;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

std::string difference(const StateDict& a, const StateDict& b) {
  if (a.optimizer != b.optimizer) return "optimizer " + a.optimizer + " vs " + b.optimizer;
  if (a.param_groups.size() != b.param_groups.size()) return "group count";
  if (a.settings != b.settings) return "settings";  // NOTE(step-settings)
  for (std::size_t g = 0; g < a.param_groups.size(); ++g) {
    const GroupState &x = a.param_groups[g], &y = b.param_groups[g];
    if (x.options != y.options) return "param_groups[" + std::to_string(g) + "] options";
    if (x.initial_lr != y.initial_lr) return "param_groups[" + std::to_string(g) + "] initial_lr";
    if (x.params != y.params) return "param_groups[" + std::to_string(g) + "] params";
  }
  if (a.state.size() != b.state.size())
    return "state has " + std::to_string(a.state.size()) + " vs " + std::to_string(b.state.size()) +
           " entries";
  for (const auto& [id, p] : a.state) {
    const auto it = b.state.find(id);
    if (it == b.state.end()) return "state[" + std::to_string(id) + "] missing";
    const ParamState& q = it->second;
    if (!same_bits(p.step, q.step)) return "state[" + std::to_string(id) + "].step";
    if (p.tensors.size() != q.tensors.size() || p.scalars.size() != q.scalars.size())
      return "state[" + std::to_string(id) + "] keys";
    for (const auto& [name, values] : p.tensors)
      if (q.tensors.count(name) == 0 || !same_bits(values, q.tensors.at(name)))
        return "state[" + std::to_string(id) + "]." + name;
    for (const auto& [name, value] : p.scalars)
      if (q.scalars.count(name) == 0 || !same_bits(value, q.scalars.at(name)))
        return "state[" + std::to_string(id) + "]." + name;
  }
  return "";
}

std::string difference(const std::vector<std::vector<double>>& a,
                       const std::vector<std::vector<double>>& b) {
  for (std::size_t t = 0; t < a.size(); ++t)
    if (!same_bits(a[t], b[t])) return "parameter " + std::to_string(t);
  return "";
}

}  // namespace fusedopt::testing
