// fusedopt_bench: optimizer x Impl (loop, foreach, fused) x dtype x tensor mix, on the CUDA
// executor (when a GPU is visible) and the CPU executor.
//
// Benchmark names are "<optimizer>/<impl>/<dtype>/<mix>/<device>"; select with
// --benchmark_filter. Each iteration times one step():
//   CUDA: CUDA events around the step (UseManualTime), after an L2 flush (a memset of 4x the
//         L2 size), warm-up steps first; host_us is the host time step() takes to enqueue.
//   CPU:  wall time of the step, after a 64 MiB cache flush.
// Counters:
//   bytes_per_second  the optimizer's byte model (Optimizer::step_cost: every list each kernel
//                     reads or writes, at its storage size) over the measured time
//   pct_of_ceiling    that rate as a percentage of the ceiling measured at start-up in the same
//                     run: a device-to-device cudaMemcpy (read + write bytes) on CUDA, an
//                     in-place triad a += s * b over all cores on the CPU (2 reads + 1 write)
//   params_per_second, launches (kernel launches per step), host_us (CUDA only)
// Repetitions: 5 of at least 0.2 s (FUSEDOPT_BENCH_REPETITIONS, FUSEDOPT_BENCH_MIN_TIME), reported
// as mean/median/stddev/cv; bench/report.py reads the medians.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"
#include "mixes.hpp"
#if FUSEDOPT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace fusedopt::bench {
namespace {

using Clock = std::chrono::steady_clock;

#if FUSEDOPT_WITH_CUDA
void cuda_check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}
#endif

/// Host (64-byte aligned) or device memory.
class Slab {
 public:
  Slab(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
    if (bytes == 0) return;
    if (device.is_cpu()) {
      data_ = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      if (data_ == nullptr) throw std::runtime_error("out of host memory");
      return;
    }
#if FUSEDOPT_WITH_CUDA
    cuda_check(cudaMalloc(&data_, bytes), "cudaMalloc");
#endif
  }
  ~Slab() {
    if (data_ == nullptr) return;
    if (device_.is_cpu()) {
      std::free(data_);
    } else {
#if FUSEDOPT_WITH_CUDA
      cudaFree(data_);  // destructor: nothing to report to
#endif
    }
  }
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

  /// Every byte = `value` (0x3c gives small finite values in f32, f16 and bf16).
  void fill(int value) {
    if (bytes_ == 0) return;
    if (device_.is_cpu()) {
      std::memset(data_, value, bytes_);
      return;
    }
#if FUSEDOPT_WITH_CUDA
    cuda_check(cudaMemset(data_, value, bytes_), "cudaMemset");
#endif
  }

 private:
  void* data_ = nullptr;
  std::size_t bytes_;
  Device device_;
};

/// Parameters and gradients of a mix: one slab per list, each tensor 16-element aligned.
struct Model {
  Model(const Mix& mix, DType dtype, Device device)
      : values(padded_total(mix) * dtype_size(dtype), device),
        grads(padded_total(mix) * dtype_size(dtype), device) {
    values.fill(0x3c);
    grads.fill(0x3c);
    std::size_t offset = 0;
    for (std::int64_t n : mix.sizes) {
      const std::size_t bytes = offset * dtype_size(dtype);
      params.push_back({{static_cast<char*>(values.data()) + bytes, n, dtype, device},
                        {static_cast<char*>(grads.data()) + bytes, n, dtype, device}});
      offset += padded(n);
    }
  }
  static std::size_t padded(std::int64_t n) { return std::size_t((n + 15) / 16 * 16); }
  static std::size_t padded_total(const Mix& mix) {
    std::size_t total = 0;
    for (std::int64_t n : mix.sizes) total += padded(n);
    return total;
  }
  Slab values, grads;
  std::vector<Param> params;
};

/// One benchmarked step: an optimizer's step() or an AveragedModel's update().
struct Stepper {
  std::function<void()> step;
  std::function<StepCost()> cost;
  std::shared_ptr<void> owner;
};

template <class Opt, class Options>
Stepper optimizer_stepper(const std::vector<Param>& params, Options options, Impl impl) {
  auto opt = std::make_shared<Opt>(params, options);
  opt->set_impl(impl);
  return {[opt] { opt->step(); }, [opt] { return opt->step_cost(); }, opt};
}

/// torch's defaults, with the options the torch comparison uses (bench/compare_torch.py).
const std::vector<std::string> kOptimizers = {"SGD",     "Adam",  "AdamW", "RMSprop", "Adagrad",
                                              "Adamax",  "NAdam", "RAdam", "Adadelta", "Rprop",
                                              "ASGD",    "Lion",  "EMA"};

/// Precision and clipping variants (issue rows for mixed precision): "<optimizer>+<mode>" with
/// mode master (fp32 master weights), bf16_state (bf16 optimizer state), master_bf16_state
/// (both), stochastic (stochastic rounding of bf16 parameters), clip (clipping by the global
/// norm inside the step) or clip_then_step (clip_grad_norm on the gradients, then the step, as
/// torch's clip_grad_norm_ before step()).
const std::vector<std::string> kModes = {
    "AdamW+master",     "SGD+master", "AdamW+bf16_state", "SGD+bf16_state",
    "AdamW+master_bf16_state", "AdamW+stochastic", "AdamW+clip", "AdamW+clip_then_step"};
bool mode_applies(const std::string& name, DType dtype) {
  if (name.find("bf16_state") != std::string::npos) return dtype == DType::bf16;
  if (name.find("+master") != std::string::npos) return dtype != DType::f32;
  if (name.find("+stochastic") != std::string::npos) return dtype == DType::bf16;
  return true;
}

Stepper make_plain_stepper(const std::string& name, const std::vector<Param>& params, Impl impl);

Stepper make_stepper(const std::string& name, const std::vector<Param>& params, Impl impl) {
  const std::size_t plus = name.find('+');
  if (plus == std::string::npos) return make_plain_stepper(name, params, impl);
  const std::string mode = name.substr(plus + 1);
  std::shared_ptr<Optimizer> opt;
  if (name.compare(0, plus, "AdamW") == 0) opt = std::make_shared<AdamW>(params, AdamWOptions());
  if (name.compare(0, plus, "SGD") == 0)
    opt = std::make_shared<SGD>(params, SGDOptions().lr(1e-2).momentum(0.9));
  if (!opt) throw std::runtime_error("unknown optimizer " + name);
  opt->set_impl(impl);
  Precision precision;
  if (mode == "master" || mode == "master_bf16_state") precision.master_weights = true;
  if (mode == "bf16_state" || mode == "master_bf16_state") precision.state_dtype = DType::bf16;
  if (mode == "stochastic") precision.stochastic_rounding = true;
  opt->set_precision(precision);
  if (mode == "clip") opt->set_grad_clipping(1.0);
  if (mode == "clip_then_step") {
    auto grads = std::make_shared<GradList>(*opt);
    const double grad_bytes = [&] {
      double bytes = 0;
      for (const Param& p : params) bytes += double(p.grad.numel) * double(dtype_size(p.grad.dtype));
      return bytes;
    }();
    auto owner = std::make_shared<std::pair<std::shared_ptr<Optimizer>, std::shared_ptr<GradList>>>(opt, grads);
    return {[opt, grads] {
              clip_grad_norm(*grads, 1.0);
              opt->step();
            },
            [opt, grad_bytes] {  // + the norm's read and the clip's read and write
              StepCost cost = opt->step_cost();
              cost.bytes += 3.0 * grad_bytes;
              return cost;
            },
            owner};
  }
  if (mode != "master" && mode != "stochastic" && mode != "clip" && mode != "bf16_state" &&
      mode != "master_bf16_state")
    throw std::runtime_error("unknown mode " + name);
  return {[opt] { opt->step(); }, [opt] { return opt->step_cost(); }, opt};
}

Stepper make_plain_stepper(const std::string& name, const std::vector<Param>& params, Impl impl) {
  if (name == "SGD") return optimizer_stepper<SGD>(params, SGDOptions().lr(1e-2).momentum(0.9), impl);
  if (name == "Adam") return optimizer_stepper<Adam>(params, AdamOptions(), impl);
  if (name == "AdamW") return optimizer_stepper<AdamW>(params, AdamWOptions(), impl);
  if (name == "RMSprop") return optimizer_stepper<RMSprop>(params, RMSpropOptions(), impl);
  if (name == "Adagrad") return optimizer_stepper<Adagrad>(params, AdagradOptions(), impl);
  if (name == "Adamax") return optimizer_stepper<Adamax>(params, AdamaxOptions(), impl);
  if (name == "NAdam") return optimizer_stepper<NAdam>(params, NAdamOptions(), impl);
  if (name == "RAdam") return optimizer_stepper<RAdam>(params, RAdamOptions(), impl);
  if (name == "Adadelta") return optimizer_stepper<Adadelta>(params, AdadeltaOptions(), impl);
  if (name == "Rprop") return optimizer_stepper<Rprop>(params, RpropOptions(), impl);
  if (name == "ASGD") return optimizer_stepper<ASGD>(params, ASGDOptions(), impl);
  if (name == "Lion") return optimizer_stepper<Lion>(params, LionOptions(), impl);
  if (name == "EMA") {
    auto ema = std::make_shared<AveragedModel>(params, ema_decay(0.999));
    ema->set_impl(impl);
    return {[ema] { ema->update(); }, [ema] { return ema->update_cost(); }, ema};
  }
  throw std::runtime_error("unknown optimizer " + name);
}

/// Evicts the benchmark's data from the caches between timed steps.
class Flusher {
 public:
  explicit Flusher(Device device) : buffer_(flush_bytes(device), device) {}
  void flush() { buffer_.fill(0x11); }

 private:
  static std::size_t flush_bytes([[maybe_unused]] Device device) {
    std::size_t bytes = std::size_t(64) << 20;
#if FUSEDOPT_WITH_CUDA
    if (device.is_cuda()) {
      int l2 = 0;
      cuda_check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device.index), "L2 size");
      bytes = std::max(bytes, 4 * std::size_t(l2));
    }
#endif
    return bytes;
  }
  Slab buffer_;
};

double g_ceiling[2] = {0, 0};  // bytes/s: [0] CPU in-place triad, [1] CUDA copy

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// In-place triad a = a + s * b over all cores (STREAM's add/triad family, written in place so
/// that the bytes counted, 2 reads and 1 write, are the bytes moved: no write-allocate of a
/// third array, as the optimizers update in place too).
double measure_cpu_ceiling() {
  const std::int64_t n = std::int64_t(64) << 20;  // 2 x 256 MiB
  std::vector<float> a(std::size_t(n), 0.0f), b(std::size_t(n), 1.0f);
  std::vector<double> rates;
  for (int trial = 0; trial < 7; ++trial) {
    const auto start = Clock::now();
    float* pa = a.data();
    const float* pb = b.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) pa[i] += 1e-3f * pb[i];
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    benchmark::DoNotOptimize(a.data());
    if (trial > 0) rates.push_back(3.0 * 4.0 * double(n) / seconds);  // trial 0 warms up
  }
  return median(rates);
}

#if FUSEDOPT_WITH_CUDA
/// Device-to-device cudaMemcpy of 1 GiB; bytes counted: read + write.
double measure_cuda_ceiling() {
  const std::size_t bytes = std::size_t(1) << 30;
  Slab src(bytes, Device::cuda(0)), dst(bytes, Device::cuda(0));
  src.fill(1);
  dst.fill(0);
  cudaEvent_t start, stop;
  cuda_check(cudaEventCreate(&start), "cudaEventCreate");
  cuda_check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<double> rates;
  for (int trial = 0; trial < 11; ++trial) {
    cuda_check(cudaEventRecord(start), "cudaEventRecord");
    cuda_check(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice), "copy");
    cuda_check(cudaEventRecord(stop), "cudaEventRecord");
    cuda_check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    if (trial > 0) rates.push_back(2.0 * double(bytes) / (double(ms) * 1e-3));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return median(rates);
}

/// CUDA events, destroyed with the benchmark.
struct Events {
  Events() {
    cuda_check(cudaEventCreate(&start), "cudaEventCreate");
    cuda_check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  cudaEvent_t start = nullptr, stop = nullptr;
};
#endif

struct Config {
  std::string optimizer;
  Impl impl;
  DType dtype;
  Mix mix;
  Device device;
};

void run(benchmark::State& state, const Config& config) {
  try {
    Model model(config.mix, config.dtype, config.device);
    Stepper stepper = make_stepper(config.optimizer, model.params, config.impl);
    Flusher flusher(config.device);
    const StepCost cost = stepper.cost();
    constexpr int kWarmup = 3;
    double host_seconds = 0;
    if (config.device.is_cpu()) {
      for (int i = 0; i < kWarmup; ++i) stepper.step();
      for (auto _ : state) {
        flusher.flush();
        const auto start = Clock::now();
        stepper.step();
        state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
      }
    } else {
#if FUSEDOPT_WITH_CUDA
      Events events;
      for (int i = 0; i < kWarmup; ++i) stepper.step();
      cuda_check(cudaDeviceSynchronize(), "warm-up");
      for (auto _ : state) {
        flusher.flush();
        cuda_check(cudaEventRecord(events.start), "cudaEventRecord");
        const auto start = Clock::now();
        stepper.step();
        host_seconds += std::chrono::duration<double>(Clock::now() - start).count();
        cuda_check(cudaEventRecord(events.stop), "cudaEventRecord");
        cuda_check(cudaEventSynchronize(events.stop), "cudaEventSynchronize");
        float ms = 0;
        cuda_check(cudaEventElapsedTime(&ms, events.start, events.stop), "cudaEventElapsedTime");
        state.SetIterationTime(double(ms) * 1e-3);
      }
#endif
    }
    const double iterations = double(state.iterations());
    const double ceiling = g_ceiling[config.device.is_cuda() ? 1 : 0];
    using benchmark::Counter;
    state.counters["bytes_per_second"] = Counter(cost.bytes * iterations, Counter::kIsRate);
    state.counters["pct_of_ceiling"] =
        Counter(ceiling > 0 ? 100.0 * cost.bytes * iterations / ceiling : 0.0, Counter::kIsRate);
    state.counters["params_per_second"] =
        Counter(double(config.mix.total()) * iterations, Counter::kIsRate);
    state.counters["launches"] = Counter(double(cost.launches));
    if (config.device.is_cuda())
      state.counters["host_us"] = Counter(host_seconds * 1e6, Counter::kAvgIterations);
    state.counters["tensors"] = Counter(double(config.mix.sizes.size()));
    state.counters["params"] = Counter(double(config.mix.total()));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

std::vector<Mix> all_mixes() {
  std::vector<Mix> mixes = {uniform_mix("uniform", 8, std::int64_t(16) << 20), gpt2_mix(),
                            small_mix("small10k", 10000), small_mix("tensors1000", 1000)};
  // Total-size sweep, 8 equal tensors: 1M .. 256M parameters.
  for (int log2 = 20; log2 <= 28; log2 += 2)
    mixes.push_back(uniform_mix("sweep" + std::to_string(1 << (log2 - 20)) + "M", 8,
                                (std::int64_t(1) << log2) / 8));
  return mixes;
}

/// FUSEDOPT_BENCH_MIN_TIME (seconds per repetition, default 0.2) and FUSEDOPT_BENCH_REPETITIONS
/// (default 5): per-benchmark settings override Google Benchmark's own flags, so these do.
double env_or(const char* name, double fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtod(value, nullptr) : fallback;
}

std::vector<std::string> all_rows() {
  std::vector<std::string> rows = kOptimizers;
  rows.insert(rows.end(), kModes.begin(), kModes.end());
  return rows;
}

void register_all() {
  const double min_time = env_or("FUSEDOPT_BENCH_MIN_TIME", 0.2);
  const int repetitions = std::max(1, int(env_or("FUSEDOPT_BENCH_REPETITIONS", 5)));
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_available()) devices.insert(devices.begin(), Device::cuda(0));
  for (const Device& device : devices)
    for (const Mix& mix : all_mixes())
      for (DType dtype : {DType::f32, DType::bf16, DType::f16})
        for (const std::string& optimizer : all_rows())
          for (Impl impl : {Impl::Loop, Impl::Foreach, Impl::Fused}) {
            if (!mode_applies(optimizer, dtype)) continue;
            Config config{optimizer, impl, dtype, mix, device};
            const std::string name = optimizer + "/" + to_string(impl) + "/" + to_string(dtype) +
                                     "/" + mix.name + "/" + (device.is_cuda() ? "cuda" : "cpu");
            benchmark::RegisterBenchmark(name.c_str(),
                                         [config](benchmark::State& s) { run(s, config); })
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond)
                ->MinTime(min_time)
                ->Repetitions(repetitions)
                ->ReportAggregatesOnly(true);
          }
}

std::string gbps(double bytes_per_second) {
  std::ostringstream out;
  out.precision(4);
  out << bytes_per_second / 1e9;
  return out.str();
}

}  // namespace
}  // namespace fusedopt::bench

int main(int argc, char** argv) {
  namespace fb = fusedopt::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  fb::g_ceiling[0] = fb::measure_cpu_ceiling();
  benchmark::AddCustomContext("cpu_ceiling_GBps", fb::gbps(fb::g_ceiling[0]));
#if FUSEDOPT_WITH_CUDA
  if (fusedopt::cuda_available()) {
    cudaDeviceProp prop{};
    fb::cuda_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    fb::g_ceiling[1] = fb::measure_cuda_ceiling();
    benchmark::AddCustomContext("cuda_device", prop.name);
    benchmark::AddCustomContext("cuda_copy_GBps", fb::gbps(fb::g_ceiling[1]));
  }
#endif
  benchmark::AddCustomContext("fusedopt_version",
                              std::to_string(FUSEDOPT_VERSION_MAJOR) + "." +
                                  std::to_string(FUSEDOPT_VERSION_MINOR) + "." +
                                  std::to_string(FUSEDOPT_VERSION_PATCH));
  fb::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
