// fusedopt_bench: optimizer x Impl (loop, foreach, fused) x dtype x tensor mix, on the CUDA
// executor (when a GPU is visible) and the CPU executor.
//
// Benchmark names are "<optimizer>/<impl>/<dtype>/<mix>/<device>"; select with
// --benchmark_filter. Each iteration times one step():
//   CUDA: CUDA events around the step (UseManualTime), after an L2 flush (a read kernel over 4x
//         the L2 size), warm-up steps first; host_us is the host time step() takes to enqueue.
//   CPU:  wall time of the step, after a 64 MiB cache flush.
// Counters:
//   bytes_per_second  the optimizer's byte model (Optimizer::step_cost: every list each kernel
//                     reads or writes, at its storage size) over the measured time
//   ceiling_GBps      the same-traffic ceiling of the row (bench/ceiling.hpp): a loop or kernel
//                     reading and writing exactly the streams of the fused step (e.g. f32 AdamW:
//                     4 reads, 3 writes of 4 bytes per element), measured in this run over the
//                     same number of elements (after a warm-up, cache flushed before each trial)
//   pct_of_ceiling    100 x ceiling time / step time: how close the step comes to moving the
//                     fused step's bytes at the machine's rate (Loop and Foreach move more bytes,
//                     which is part of what this shows)
//   params_per_second, launches (kernel launches per step), host_us (CUDA only)
// Repetitions: 5 of at least 0.2 s (FUSEDOPT_BENCH_REPETITIONS, FUSEDOPT_BENCH_MIN_TIME), reported
// as mean/median/stddev/cv; bench/report.py reads the medians. FUSEDOPT_BENCH_QUICK=1: one
// repetition of 0.05 s and only the gpt2 and small10k mixes (a smoke run in a few minutes).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ceiling.hpp"
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
  Device device() const { return device_; }

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

/// One benchmarked step: an optimizer's step() or an AveragedModel's update(), with its
/// same-traffic passes (ceiling.hpp), asked for after the warm-up steps (state exists then).
struct Stepper {
  std::function<void()> step;
  std::function<StepCost()> cost;
  std::function<std::vector<Pass>()> passes;
  std::shared_ptr<void> owner;
};

/// The streams of an optimizer's fused step: the parameter (or its fp32 master) read and
/// written, the fp32-master's model copy written, the gradient read, and every state tensor
/// the size of the parameter read and written, each at its storage width.
Pass fused_step_streams(const Optimizer& opt, const std::vector<Param>& params,
                        const Precision& precision) {
  const int model_width = int(dtype_size(params[0].value.dtype));
  const bool master = precision.master_weights && params[0].value.dtype != DType::f32;
  const bool bf16_state = precision.state_dtype == DType::bf16 && params[0].value.dtype == DType::bf16;
  Pass pass = {{master ? 4 : model_width, true, true}};
  if (master) pass.push_back({model_width, false, true});
  pass.push_back({model_width, true, false});
  const std::size_t last = params.size() - 1;
  for (const std::string& name : opt.state_names(0))
    if (std::int64_t(opt.state(0, last, name).size()) == params[last].value.numel)
      pass.push_back({bf16_state ? 2 : 4, true, true});
  return pass;
}

/// The optimizer rows: every optimizer of cmake/optimizers.cmake (make_optimizer gives their
/// options), then EMA.
const std::vector<std::string> kOptimizers = [] {
  std::vector<std::string> names;
#define FUSEDOPT_BENCH_ROW(Class, Options) names.push_back(Options::kOptimizer);
  FUSEDOPT_FOR_EACH_OPTIMIZER(FUSEDOPT_BENCH_ROW)
#undef FUSEDOPT_BENCH_ROW
  names.push_back("EMA");
  return names;
}();

/// Precision and clipping variants (issue rows for mixed precision): "<optimizer>+<mode>" with
/// mode master (fp32 master weights), bf16_state (bf16 optimizer state), master_bf16_state
/// (both), stochastic (stochastic rounding of bf16 parameters), clip (clipping by the global
/// norm inside the step) or clip_then_step (clip_grad_norm on the gradients, then the step, as
/// torch's clip_grad_norm_ before step()).
const std::vector<std::string> kModes = {
    "AdamW+master",     "SGD+master",  "AdamW+bf16_state",      "SGD+bf16_state",
    "Adam+bf16_state",  "Adagrad+bf16_state", "AdamW+master_bf16_state", "AdamW+stochastic",
    "AdamW+clip",       "AdamW+clip_then_step"};
bool mode_applies(const std::string& name, DType dtype) {
  if (name.find("bf16_state") != std::string::npos) return dtype == DType::bf16;
  if (name.find("+master") != std::string::npos) return dtype != DType::f32;
  if (name.find("+stochastic") != std::string::npos) return dtype == DType::bf16;
  return true;
}

template <class Class, class Options>
std::shared_ptr<Optimizer> make_with_defaults(const std::vector<Param>& params) {
  auto opt = std::make_shared<Class>(params, Options());
  if constexpr (std::is_same_v<Class, AdamWScheduleFree>) opt->train();
  return opt;
}

/// torch's defaults (the schedule-free package's for AdamWScheduleFree, in train mode, which
/// its steps need), with the options the torch comparison uses (bench/compare_torch.py).
std::shared_ptr<Optimizer> make_optimizer(const std::string& name, const std::vector<Param>& params) {
  if (name == "SGD") return std::make_shared<SGD>(params, SGDOptions().lr(1e-2).momentum(0.9));
#define FUSEDOPT_BENCH_MAKE(Class, Options) \
  if (name == Options::kOptimizer) return make_with_defaults<Class, Options>(params);
  FUSEDOPT_FOR_EACH_OPTIMIZER(FUSEDOPT_BENCH_MAKE)
#undef FUSEDOPT_BENCH_MAKE
  throw std::runtime_error("unknown optimizer " + name);
}

Stepper make_stepper(const std::string& name, const std::vector<Param>& params, Impl impl) {
  if (name == "EMA") {  // reads the model's parameters, reads and writes the average
    auto ema = std::make_shared<AveragedModel>(params, ema_decay(0.999));
    ema->set_impl(impl);
    const int width = int(dtype_size(params[0].value.dtype));
    return {[ema] { ema->update(); }, [ema] { return ema->update_cost(); },
            [width] { return std::vector<Pass>{{{width, true, true}, {width, true, false}}}; }, ema};
  }
  const std::size_t plus = name.find('+');
  const std::string mode = plus == std::string::npos ? "" : name.substr(plus + 1);
  std::shared_ptr<Optimizer> opt = make_optimizer(name.substr(0, plus), params);
  opt->set_impl(impl);
  Precision precision;
  if (mode == "master" || mode == "master_bf16_state") precision.master_weights = true;
  if (mode == "bf16_state" || mode == "master_bf16_state") precision.state_dtype = DType::bf16;
  if (mode == "stochastic") precision.stochastic_rounding = true;
  opt->set_precision(precision);
  if (mode == "clip") opt->set_grad_clipping(1.0);
  const int grad_width = int(dtype_size(params[0].grad.dtype));
  // The same-traffic passes: in-step clipping first reads the gradients for their norm.
  auto passes = [opt, params, precision, mode, grad_width] {
    std::vector<Pass> out;
    if (mode == "clip" || mode == "clip_then_step") out.push_back({{grad_width, true, false}});
    if (mode == "clip_then_step") out.push_back({{grad_width, true, true}});  // the clip
    out.push_back(fused_step_streams(*opt, params, precision));
    return out;
  };
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
            passes, owner};
  }
  if (!mode.empty() && mode != "master" && mode != "stochastic" && mode != "clip" &&
      mode != "bf16_state" && mode != "master_bf16_state")
    throw std::runtime_error("unknown mode " + name);
  return {[opt] { opt->step(); }, [opt] { return opt->step_cost(); }, passes, opt};
}
/// Evicts the benchmark's data from the caches between timed steps: a memset of 64 MiB on the
/// CPU; on CUDA a read kernel over 4x the L2 size (a memset would leave dirty lines in L2 to
/// be written back during the timed step).
class Flusher {
 public:
  explicit Flusher(Device device) : buffer_(flush_bytes(device), device) { buffer_.fill(0x11); }
  void flush() {
#if FUSEDOPT_WITH_CUDA
    if (!buffer_.device().is_cpu()) return read_flush(buffer_.data(), buffer_.bytes());
#endif
    buffer_.fill(0x11);
  }

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

/// Same-traffic ceilings measured in this run, by device, passes and element count: the rows
/// of one optimizer and mode (loop, foreach, fused) share one.
double ceiling_seconds(const std::vector<Pass>& passes, std::int64_t n, Device device) {
  static std::map<std::string, double> measured;
  const std::string key = std::string(device.is_cuda() ? "cuda " : "cpu ") + describe(passes) +
                          " n=" + std::to_string(n);
  const auto found = measured.find(key);
  if (found != measured.end()) return found->second;
  double seconds = 0;
#if FUSEDOPT_WITH_CUDA
  if (device.is_cuda()) seconds = cuda_ceiling_seconds(passes, n);
#endif
  if (device.is_cpu()) seconds = cpu_ceiling_seconds(passes, n);
  measured[key] = seconds;
  return seconds;
}

double pass_bytes(const std::vector<Pass>& passes, std::int64_t n) {
  double bytes = 0;
  for (const Pass& pass : passes)
    for (const Stream& s : pass) bytes += double(n) * s.width * (int(s.read) + int(s.write));
  return bytes;
}

#if FUSEDOPT_WITH_CUDA
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
    for (int i = 0; i < kWarmup; ++i) stepper.step();
    const std::vector<Pass> passes = stepper.passes();
    const std::int64_t n = config.mix.total();
    const double ceiling = ceiling_seconds(passes, n, config.device);
    state.SetLabel(describe(passes));
    if (config.device.is_cpu()) {
      for (auto _ : state) {
        flusher.flush();
        const auto start = Clock::now();
        stepper.step();
        state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
      }
    } else {
#if FUSEDOPT_WITH_CUDA
      Events events;
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
    using benchmark::Counter;
    state.counters["bytes_per_second"] = Counter(cost.bytes * iterations, Counter::kIsRate);
    // kIsRate divides by the total time: ceiling seconds x iterations / time = ceiling / step.
    state.counters["pct_of_ceiling"] = Counter(100.0 * ceiling * iterations, Counter::kIsRate);
    state.counters["ceiling_GBps"] = Counter(pass_bytes(passes, n) / ceiling / 1e9);
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

/// FUSEDOPT_BENCH_QUICK=1: the smoke-run selection (see the header).
bool quick() {
  const char* value = std::getenv("FUSEDOPT_BENCH_QUICK");
  return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

std::vector<Mix> all_mixes() {
  if (quick()) return {gpt2_mix(), small_mix("small10k", 10000)};
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

/// NOTE(rebind): what an engine that reallocates every gradient each step pays to hand over the
/// new addresses, at 10,000 tensors (of 16 elements, so that the step itself is small): rebind()
/// of every parameter with every gradient moved (alternating between two slabs), rebind() of one
/// parameter, and AdamW's fused step over the same tensors for scale. Rows
/// "rebind/<what>/10k/<device>" (report.py's tables skip them).
void run_rebind(benchmark::State& state, const std::string& what, Device device) {
  const Mix mix = uniform_mix("10k", 10000, 16);
  Model model(mix, DType::f32, device);
  Slab other(model.grads.bytes(), device);
  other.fill(0x3c);
  std::vector<Param> moved = model.params;
  for (Param& p : moved)
    p.grad.data = static_cast<char*>(other.data()) +
                  (static_cast<char*>(p.grad.data) - static_cast<char*>(model.grads.data()));
  AdamW opt(model.params);
  opt.step();  // the state exists
  bool flip = false;
  for (auto _ : state) {
    const std::vector<Param>& next = flip ? model.params : moved;
    const auto start = Clock::now();
    if (what == "all") {
      opt.rebind({next});
    } else if (what == "one") {
      opt.rebind(0, 5000, next[5000]);
    } else {
      opt.step();
    }
    opt.synchronize();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    flip = !flip;
  }
  state.counters["tensors"] = double(mix.sizes.size());
}

void register_all() {
  const double min_time = env_or("FUSEDOPT_BENCH_MIN_TIME", quick() ? 0.05 : 0.2);
  const int repetitions = std::max(1, int(env_or("FUSEDOPT_BENCH_REPETITIONS", quick() ? 1 : 5)));
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_available()) devices.insert(devices.begin(), Device::cuda(0));
  for (const Device& device : devices)
    for (const std::string what : {"all", "one", "step"})
      benchmark::RegisterBenchmark(
          ("rebind/" + what + "/10k/" + (device.is_cuda() ? "cuda" : "cpu")).c_str(),
          [what, device](benchmark::State& s) { run_rebind(s, what, device); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(min_time)
          ->Repetitions(repetitions)
          ->ReportAggregatesOnly(true);
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


}  // namespace
}  // namespace fusedopt::bench

int main(int argc, char** argv) {
  namespace fb = fusedopt::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("cpu_isa", fusedopt::cpu_isa());
#if FUSEDOPT_WITH_CUDA
  if (fusedopt::cuda_available()) {
    cudaDeviceProp prop{};
    fb::cuda_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    benchmark::AddCustomContext("cuda_device", prop.name);
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
