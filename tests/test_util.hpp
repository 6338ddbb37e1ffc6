#pragma once
// Test helpers: memory on either executor with guard zones, storage-dtype rounding written
// independently of kernels/engine/dtype.h, random data, and the CUDA skip rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"

namespace fusedopt::testing {

/// True when FUSEDOPT_REQUIRE_GPU=1: a CUDA test that would skip fails instead (a GPU machine
/// whose device is not seen must not pass quietly).
bool gpu_required();

/// True when CI=true (or 1): a test that cannot run here fails instead of skipping, so CI never
/// passes on a check it did not make.
bool in_ci();

/// GTEST_SKIP()s with `reason`, or FAIL()s with it under CI=true (see in_ci()).
#define FUSEDOPT_SKIP_OR_FAIL_IN_CI(reason)                                 \
  do {                                                                      \
    if (::fusedopt::testing::in_ci()) FAIL() << "CI=true, cannot run: " << reason; \
    GTEST_SKIP() << reason;                                                 \
  } while (0)

/// GTEST_SKIP()s a CUDA test when no device is present, saying why (a failure under
/// FUSEDOPT_REQUIRE_GPU=1). A broken CUDA installation is not "no device": cuda_available()
/// throws, and the test fails with CUDA's error.
#define FUSEDOPT_SKIP_WITHOUT_DEVICE(device)                                                   \
  do {                                                                                        \
    if ((device).is_cuda() && !::fusedopt::cuda_available()) {                                \
      if (::fusedopt::testing::gpu_required())                                                \
        FAIL() << "FUSEDOPT_REQUIRE_GPU=1 but fusedopt::cuda_device_count() == 0";            \
      GTEST_SKIP() << "no CUDA device visible (fusedopt::cuda_device_count() == 0): the CUDA " \
                      "executor is not exercised on this machine";                            \
    }                                                                                         \
  } while (0)

// ---- storage dtypes, independent of kernels/engine/dtype.h -----------------------------------------

// Rounding to f16 and bf16 is exact double arithmetic on the float (scale by a power of two,
// round to an integer with ties to even, scale back), written independently of
// kernels/engine/dtype.h; DType tests check it against a table of every f16 value and against the
// compiler's _Float16 where it has one (GCC >= 12 on x86-64; not clang 14, the sanitizer build).
// No libm calls: the trajectory tests round and compare millions of values per case.
#if defined(__FLT16_MANT_DIG__)
#define FUSEDOPT_TEST_HAS_FLOAT16 1
#else
#define FUSEDOPT_TEST_HAS_FLOAT16 0
#endif

/// 2^k, exactly, for k in double's normal exponent range [-1022, 1023].
inline double exp2i(int k) {
  const std::uint64_t bits = std::uint64_t(k + 1023) << 52;
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

/// floor(log2(a)) for a normal double a > 0; -1023 for 0 and subnormal doubles (below every
/// storage type's range); 1024 for inf and NaN.
inline int exponent_of(double a) {
  std::uint64_t bits;
  std::memcpy(&bits, &a, 8);
  return int((bits >> 52) & 0x7ff) - 1023;
}

/// `y` (|y| < 2^52) rounded to an integer, ties to even, in the default rounding mode: adding
/// 2^52 leaves no fraction bits, subtracting it again is exact.
inline double round_half_even(double y) {
  constexpr double kShift = 4503599627370496.0;  // 2^52
  return y >= 0 ? (y + kShift) - kShift : -((-y + kShift) - kShift);
}

/// a >= 0 (finite) rounded to `mantissa` fraction bits, with exponents below `min_exp` sharing
/// the subnormal spacing 2^(min_exp - mantissa); ties to even.
inline double round_magnitude(double a, int mantissa, int min_exp) {
  const int lead = std::max(exponent_of(a), min_exp);
  return round_half_even(a * exp2i(mantissa - lead)) * exp2i(lead - mantissa);
}

/// The f16 value nearest to `f` (ties to even), as a float; +-inf beyond the f16 range.
inline float soft_round_f16(float f) {
  if (!std::isfinite(f)) return f;
  const double a = std::fabs(double(f));
  if (a >= 65520.0) return std::copysign(HUGE_VALF, f);  // 65504 + half an ulp ties up to 2^16
  return float(std::copysign(round_magnitude(a, 10, -14), double(f)));
}

/// The bits of an f16 value (`v` must be one, e.g. from soft_round_f16): float's fields moved
/// (normal range: exponent rebiased from 127 to 15, the 10 leading fraction bits kept; below
/// it: the count of 2^-24 steps, exact).
inline std::uint16_t soft_f16_bits(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  const auto sign = std::uint16_t((u >> 16) & 0x8000u);
  const std::uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return std::uint16_t(sign | 0x7e00u);  // NaN
  if (magnitude == 0x7f800000u) return std::uint16_t(sign | 0x7c00u);
  if (magnitude >= 0x38800000u) return std::uint16_t(sign | ((magnitude - 0x38000000u) >> 13));
  return std::uint16_t(sign | std::uint16_t(std::fabs(v) * 16777216.0f));  // 2^24
}

/// The value of f16 bits, built as a float's fields (the inverse of soft_f16_bits).
inline float soft_f16_value(std::uint16_t bits) {
  const std::uint32_t sign = std::uint32_t(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  std::uint32_t u;
  if (exponent == 31) {
    u = sign | 0x7f800000u | (mantissa ? 0x400000u | (mantissa << 13) : 0u);
  } else if (exponent == 0) {
    const float magnitude = float(mantissa) * 5.9604644775390625e-8f;  // 2^-24, exact
    std::memcpy(&u, &magnitude, 4);
    u |= sign;
  } else {
    u = sign | (((exponent + 112u) << 23) | (mantissa << 13));
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float round_f16(float f) { return soft_round_f16(f); }

/// The bits of the f16 nearest to `f`.
inline std::uint16_t f16_bits(float f) { return soft_f16_bits(soft_round_f16(f)); }

inline float f16_value(std::uint16_t bits) { return soft_f16_value(bits); }

/// Rounds a double to the nearest value representable in `dtype` (nearest-even). 2-byte types
/// round the float nearest to `x`, as a kernel rounds its float result.
inline double round_to(DType dtype, double x) {
  switch (dtype) {
    case DType::f32: return double(float(x));
    case DType::f16:
      return double(round_f16(float(x)));
    case DType::bf16: {
      const float f = float(x);
      if (!std::isfinite(f)) return f;
      const double a = std::fabs(double(f));
      if (a >= exp2i(128) - exp2i(119)) return std::copysign(HUGE_VAL, x);  // 8 bits, ties up
      return std::copysign(round_magnitude(a, 7, -126), double(f));
    }
  }
  return x;
}

/// The torch name of every optimizer class in cmake/optimizers.cmake (NOTE(one-list)).
std::vector<std::string> listed_optimizers();
/// The listed optimizers (less `exempt`, tested elsewhere) that no case of `case_names` is for:
/// a case is for optimizer X when its name is X or begins with "X_".
std::vector<std::string> uncovered_optimizers(const std::vector<std::string>& case_names,
                                              const std::vector<std::string>& exempt = {});

/// Bitwise equality (NaN-safe, and -0 differs from +0).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b);
bool same_bits(double a, double b);
bool same_bits(const std::vector<double>& a, const std::vector<double>& b);
/// Empty when the two state dicts are equal bit for bit (optimizer, each group's options,
/// initial_lr and params, every state tensor and scalar), else what differs first.
std::string difference(const StateDict& a, const StateDict& b);
/// Empty when the parameters' values are equal bit for bit, else the first that differs.
std::string difference(const std::vector<std::vector<double>>& a,
                       const std::vector<std::vector<double>>& b);

/// The distance between `dtype` values near |x| (subnormal spacing below the normal range, and
/// at 0).
inline double ulp(DType dtype, double x) {
  const int mantissa = dtype == DType::f16 ? 10 : dtype == DType::bf16 ? 7 : 23;
  const int min_exp = dtype == DType::f16 ? -14 : -126;
  return exp2i(std::max(exponent_of(std::abs(x)), min_exp) - mantissa);
}

/// Writes `x` (already representable) in storage format at `dst`.
inline void encode(DType dtype, double x, void* dst) {
  const float f = float(round_to(dtype, x));
  if (dtype == DType::f32) {
    std::memcpy(dst, &f, 4);
  } else if (dtype == DType::f16) {
    const std::uint16_t h = f16_bits(f);
    std::memcpy(dst, &h, 2);
  } else {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    const auto b = std::uint16_t(u >> 16);
    std::memcpy(dst, &b, 2);
  }
}

inline double decode(DType dtype, const void* src) {
  if (dtype == DType::f32) {
    float f;
    std::memcpy(&f, src, 4);
    return f;
  }
  if (dtype == DType::f16) {
    std::uint16_t h;
    std::memcpy(&h, src, 2);
    return double(f16_value(h));
  }
  std::uint16_t b;
  std::memcpy(&b, src, 2);
  const std::uint32_t u = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- memory on either executor ----------------------------------------------------------------

/// Raw bytes on a device (host vector or cudaMalloc), with host upload/download.
class DeviceBytes {
 public:
  DeviceBytes(std::size_t bytes, Device device);
  ~DeviceBytes();
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  unsigned char* data() const { return data_; }
  std::size_t size() const { return bytes_; }
  void upload(const std::vector<unsigned char>& host);
  std::vector<unsigned char> download() const;

 private:
  unsigned char* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

/// One test tensor: `numel` elements of `dtype`, placed `misalign` elements past a 256-byte
/// boundary (so vector loads are off when misalign != 0), between guard zones filled with a
/// poison byte pattern that must survive every step.
class GuardedTensor {
 public:
  static constexpr std::size_t kGuard = 256;
  static constexpr unsigned char kPoison = 0xA7;

  GuardedTensor(std::int64_t numel, DType dtype, Device device, int misalign = 0);
  TensorView view() const;
  std::int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  /// Writes values (rounded to dtype) and poisons the guards.
  void set(const std::vector<double>& values);
  /// Fills the data (not the guards) with the poison pattern.
  void poison();
  std::vector<double> get() const;
  /// True when both guard zones still hold the poison pattern.
  bool guards_intact() const;

 private:
  std::int64_t numel_;
  DType dtype_;
  Device device_;
  std::size_t offset_;
  DeviceBytes bytes_;
};

/// n values from a normal distribution of standard deviation `scale`, rounded to `dtype`.
/// Marsaglia's polar method in float (the values are rounded to float or narrower anyway), both
/// uniforms from one 64-bit draw: std::normal_distribution<double> took a fifth of the
/// trajectory tests' time.
inline std::vector<double> random_values(std::mt19937_64& rng, std::int64_t n, double scale,
                                         DType dtype) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size();) {
    const std::uint64_t r = rng();
    const float u = float(std::int32_t(std::uint32_t(r))) * 0x1p-31f;  // [-1, 1]
    const float w = float(std::int32_t(std::uint32_t(r >> 32))) * 0x1p-31f;
    const float s = u * u + w * w;
    if (s >= 1.0f || s == 0.0f) continue;
    const float factor = std::sqrt(-2.0f * std::log(s) / s);
    v[i++] = round_to(dtype, scale * double(u * factor));
    if (i < v.size()) v[i++] = round_to(dtype, scale * double(w * factor));
  }
  return v;
}

/// Parameters in groups with every step's gradients drawn up front, deterministic per seed:
/// checkpoint tests run one model straight and another stopped, saved and resumed, and compare.
class SteppedModel {
 public:
  struct Spec {
    std::int64_t numel;
    DType dtype;
  };
  /// `short_gradients`: every gradient keeps 6 significant bits, so that it times a loss scale
  /// of 3 * 2^k is exact in every dtype (and divides back exactly).
  SteppedModel(Device device, std::uint64_t seed, const std::vector<std::vector<Spec>>& layout,
               int steps, bool short_gradients = false);
  const std::vector<std::vector<Param>>& groups() const { return groups_; }
  /// Step `step`'s gradients, times `factor` (exact for a power of two, and for 3 * 2^k with
  /// short gradients).
  void load_grads(int step, double factor = 1.0);
  void poison_grads(double value);
  /// Gradient `t` (in parameter order across the groups).
  GuardedTensor& grad(std::size_t t) { return *grads_[t]; }
  /// The parameters' values, exactly (storage precision, as doubles).
  std::vector<std::vector<double>> values() const;

 private:
  std::vector<std::unique_ptr<GuardedTensor>> values_, grads_;
  std::vector<std::vector<std::vector<double>>> step_grads_;
  std::vector<std::vector<Param>> groups_;
};

/// Copies the bytes a view points to (host or device) into `dst`.
void copy_view_to_host(const TensorView& view, void* dst);
/// Sets every byte a view points to (host or device) to `byte`.
void fill_view_bytes(const TensorView& view, unsigned char byte);

/// The fp32 scalar at `p` (host or device memory of `device`).
inline float read_scalar(const float* p, Device device) {
  float out = 0;
  copy_view_to_host({const_cast<float*>(p), 1, DType::f32, device}, &out);
  return out;
}

/// Parameter `index` of group 0 as a step leaves it: its value, every state tensor, its step
/// count (the bitwise comparisons of frozen and rebound parameters against their twins).
struct Snapshot {
  std::vector<double> value;
  std::vector<std::vector<float>> states;
  double step;
  bool operator==(const Snapshot& o) const {
    return value == o.value && states == o.states && step == o.step;
  }
};
inline Snapshot snapshot(const Optimizer& opt, const GuardedTensor& value, std::size_t index) {
  Snapshot s{value.get(), {}, opt.step_count(0, index)};
  for (const std::string& name : opt.state_names(0)) s.states.push_back(opt.state(0, index, name));
  return s;
}

/// A seed that differs between runs; printed by the tests that use it. FUSEDOPT_TEST_SEED=<n>
/// in the environment fixes it, to reproduce a failure.
std::uint64_t fresh_seed();

/// A named way to build an optimizer over a parameter list: the suites that run one check
/// over every algorithm (frozen parameters, precision).
struct OptimizerCase {
  std::string name;
  std::function<std::unique_ptr<Optimizer>(const std::vector<Param>&)> make;
};

template <class Options>
OptimizerCase optimizer_case(std::string name, Options options) {
  return {std::move(name), [options](const std::vector<Param>& params) {
            return std::unique_ptr<Optimizer>(
                std::make_unique<FusedOptimizer<Options>>(params, options));
          }};
}

/// Every optimizer with a non-trivial mode (momentum, amsgrad, centered, decay, ...).
inline std::vector<OptimizerCase> all_optimizer_cases() {
  return {
      optimizer_case("SGD_momentum", SGDOptions().lr(0.1).momentum(0.9).weight_decay(0.01)),
      optimizer_case("Adam_amsgrad", AdamOptions().lr(1e-2).amsgrad(true)),
      optimizer_case("AdamW", AdamWOptions().lr(1e-2)),
      optimizer_case("RMSprop_centered", RMSpropOptions().lr(1e-2).centered(true).momentum(0.5)),
      optimizer_case("Adagrad",
                     AdagradOptions().lr(0.1).lr_decay(0.01).initial_accumulator_value(0.1)),
      optimizer_case("Adamax", AdamaxOptions().lr(1e-2)),
      optimizer_case("NAdam", NAdamOptions().lr(1e-2)),
      optimizer_case("RAdam", RAdamOptions().lr(1e-2)),
      optimizer_case("Adadelta", AdadeltaOptions().lr(1.0)),
      optimizer_case("Rprop", RpropOptions().lr(1e-2)),
      optimizer_case("ASGD", ASGDOptions().lr(1e-2).t0(2)),
      optimizer_case("Lion", LionOptions().lr(1e-3).weight_decay(0.1)),
  };
}

/// Devices the suites run on: the CPU always, cuda:0 (skipped without a GPU).
inline std::vector<Device> all_devices() { return {Device::cpu(), Device::cuda(0)}; }

/// Where a test runs: the CPU executor, the emulated device (the CUDA kernels' per-thread code
/// replayed on the CPU, NOTE(emulated-device) in host/engine/emulated_device.hpp) or cuda:0.
enum class Executor { cpu, emulated, cuda };
inline Device device_of(Executor e) { return e == Executor::cuda ? Device::cuda(0) : Device::cpu(); }
inline const char* to_string(Executor e) {
  return e == Executor::cpu ? "cpu" : e == Executor::emulated ? "emulated" : "cuda";
}
/// The executors of the main suites (Emulated suites instantiate {Executor::emulated}).
inline std::vector<Executor> native_executors() { return {Executor::cpu, Executor::cuda}; }

/// Selects `executor` for the scope: the emulated device on for Executor::emulated (block and
/// lane orders from a fresh seed, reported by description()), off otherwise; off again at exit.
class UseExecutor {
 public:
  explicit UseExecutor(Executor executor);
  ~UseExecutor();
  UseExecutor(const UseExecutor&) = delete;
  UseExecutor& operator=(const UseExecutor&) = delete;
  std::string description() const;

 private:
  Executor executor_;
  std::uint64_t seed_ = 0;
};

/// Runs the CPU executor's parallel loops on `threads` OpenMP threads for the scope (the tests
/// run with OMP_NUM_THREADS=1: scripts/test.sh). available() is false in a build without
/// OpenMP, where the CPU executor has one thread.
class UseThreads {
 public:
  explicit UseThreads(int threads);
  ~UseThreads();
  UseThreads(const UseThreads&) = delete;
  UseThreads& operator=(const UseThreads&) = delete;
  static bool available();

 private:
  int before_ = 1;
};

/// The thread counts the CPU executor is checked at, bit for bit against one thread.
inline constexpr int kThreadCounts[] = {2, 8};

/// Skips without a GPU (Executor::cuda), then selects the executor for the rest of the test.
#define FUSEDOPT_USE_EXECUTOR(executor)                                         \
  FUSEDOPT_SKIP_WITHOUT_DEVICE(::fusedopt::testing::device_of(executor));       \
  const ::fusedopt::testing::UseExecutor fusedopt_use_executor_(executor);      \
  SCOPED_TRACE(fusedopt_use_executor_.description())

}  // namespace fusedopt::testing
