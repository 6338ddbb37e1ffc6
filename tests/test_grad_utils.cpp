// The gradient utilities (include/fusedopt/grad_utils.hpp) on every executor: the deterministic
// multi-tensor norm against a double reference and bitwise across executors and runs, clipping
// by norm and by value, the non-finite check and unscale, GradScaler, the error contract, and
// golden values from PyTorch (tests/golden/generate_grad_utils.py).
//
// Tolerances. Norms against the double reference: |norm - ref| <= 1e-5 * ref for every dtype
// (the inputs are exact in their dtype; the fp32 accumulation of NOTE(grad-norm) adds at most
// ~50 roundings). Everything elementwise is exact: the expected values are computed here in
// float with torch's formulas, then rounded to the storage dtype. Against PyTorch: exact, except
// p = 3 (1 ulp: the roots are rounded differently) and the norms of the "random" golden cases, where torch's fp32 summation order differs from
// fusedopt's: 4 ulps allowed (torch's sequential CPU sum is 3 ulps off the exact value in one
// case), for the norms and the gradients clipped with them, and fusedopt's norms must be within
// 1 ulp of the double-precision ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

#if FUSEDOPT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace fusedopt::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kInfD = std::numeric_limits<double>::infinity();

using Floats = std::vector<float>;
struct GoldenClipNorm {
  const char* id;
  double norm_type;
  double max_norm;
  bool exact;  // terms that sum exactly in fp32: torch's bits whatever the order
  std::vector<Floats> grads;
  Floats tensor_norms;
  float total_norm;
  std::vector<Floats> clipped;
};
struct GoldenClipValue {
  const char* id;
  double clip_value;
  std::vector<Floats> grads;
  std::vector<Floats> clipped;
};
struct GoldenUnscale {
  const char* id;
  float inv_scale;
  std::vector<Floats> grads;
  std::vector<Floats> unscaled;
  float found_inf;
};
struct GoldenScaler {
  const char* id;
  double init_scale, growth_factor, backoff_factor;
  std::int64_t growth_interval;
  const char* pattern;  // '1': that step's gradients hold an inf
  std::vector<double> scales;
  std::vector<std::int64_t> trackers;
  std::vector<Floats> params;
};
#include "golden/grad_utils.inc"

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

/// Distance in ulps between two finite floats of the same sign region (ordered integers).
std::int64_t ulps(float a, float b) {
  const auto ordered = [](float f) {
    const std::int64_t u = bits_of(f);
    return (u & 0x80000000) ? -(u & 0x7fffffff) : u;
  };
  return std::llabs(ordered(a) - ordered(b));
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

/// Guarded gradient tensors and the list over them.
struct Grads {
  std::vector<std::unique_ptr<GuardedTensor>> tensors;
  std::vector<int> misaligns;
  std::vector<TensorView> views() const {
    std::vector<TensorView> v;
    for (const auto& t : tensors) v.push_back(t->view());
    return v;
  }
  void add(std::int64_t n, DType dtype, Device device, int misalign, std::vector<double> values) {
    tensors.push_back(std::make_unique<GuardedTensor>(n, dtype, device, misalign));
    tensors.back()->set(values);
    misaligns.push_back(misalign);
  }
  bool guards_intact() const {
    for (const auto& t : tensors)
      if (!t->guards_intact()) return false;
    return true;
  }
};

const std::vector<std::int64_t> kSizes = {0, 1, 5, 4099, 70000};

/// Every size aligned and misaligned, in dtype, random normal values.
Grads random_grads(std::mt19937_64& rng, DType dtype, Device device, double scale = 1.0) {
  Grads g;
  for (const int misalign : {0, 1})
    for (const std::int64_t n : kSizes) g.add(n, dtype, device, misalign, random_values(rng, n, scale, dtype));
  return g;
}

/// torch.linalg.vector_norm of each tensor, and of their norms, in double.
struct RefNorms {
  std::vector<double> tensors;
  double total;
};
RefNorms reference_norms(const std::vector<std::vector<double>>& values, double p) {
  const auto norm = [p](const std::vector<double>& x) {
    double acc = 0;
    for (const double v : x) {
      if (std::isinf(p)) acc = std::max(acc, std::fabs(v));
      else acc += std::pow(std::fabs(v), p);
    }
    return std::isinf(p) ? acc : std::pow(acc, 1.0 / p);
  };
  RefNorms r;
  for (const auto& x : values) r.tensors.push_back(norm(x));
  r.total = norm(r.tensors);
  return r;
}

class GradUtils : public ::testing::TestWithParam<Executor> {};

TEST_P(GradUtils, NormMatchesDoubleReference) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(to_string(dtype));
    Grads g = random_grads(rng, dtype, device);
    std::vector<std::vector<double>> before;
    for (const auto& t : g.tensors) before.push_back(t->get());
    GradList list(g.views());
    for (const double p : {2.0, 1.0, double(kInf), 3.0, 0.5}) {
      SCOPED_TRACE("norm_type " + std::to_string(p));
      const float* total = get_total_norm(list, p);
      EXPECT_EQ(total, get_total_norm(list, p));  // the list's own scalar
      const RefNorms ref = reference_norms(before, p);
      const std::vector<float> norms = list.read_tensor_norms();
      ASSERT_EQ(norms.size(), ref.tensors.size());
      for (std::size_t i = 0; i < norms.size(); ++i)
        EXPECT_NEAR(norms[i], ref.tensors[i], 1e-5 * ref.tensors[i]) << "tensor " << i;
      EXPECT_NEAR(list.read_total_norm(), ref.total, 1e-5 * ref.total);
    }
    for (std::size_t i = 0; i < g.tensors.size(); ++i) EXPECT_EQ(g.tensors[i]->get(), before[i]);
    EXPECT_TRUE(g.guards_intact());
  }
}

TEST_P(GradUtils, MixedDtypesInOneList) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  std::mt19937_64 rng(fresh_seed());
  Grads g;
  std::vector<std::vector<double>> values;
  const DType dtypes[] = {DType::bf16, DType::f32, DType::f16};
  for (int i = 0; i < 9; ++i) {
    const DType dtype = dtypes[i % 3];
    const std::int64_t n = kSizes[std::size_t(i) % kSizes.size()] + i;
    values.push_back(random_values(rng, n, 0.5, dtype));
    g.add(n, dtype, device, i % 2, values.back());
  }
  GradList list(g.views());
  get_total_norm(list, 2.0);
  const RefNorms ref = reference_norms(values, 2.0);
  const std::vector<float> norms = list.read_tensor_norms();  // in the caller's order
  for (std::size_t i = 0; i < norms.size(); ++i)
    EXPECT_NEAR(norms[i], ref.tensors[i], 1e-5 * ref.tensors[i]) << "tensor " << i;
  EXPECT_NEAR(list.read_total_norm(), ref.total, 1e-5 * ref.total);
}

TEST_P(GradUtils, NormIsBitwiseReproducible) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  std::mt19937_64 rng(fresh_seed());
  Grads g = random_grads(rng, DType::f32, device, 3.0);
  GradList list(g.views());
  for (const double p : {2.0, 1.0, double(kInf), 2.5}) {
    get_total_norm(list, p);
    const float first = list.read_total_norm();
    const std::vector<float> first_norms = list.read_tensor_norms();
    for (int run = 0; run < 3; ++run) {
      get_total_norm(list, p);
      EXPECT_EQ(bits_of(list.read_total_norm()), bits_of(first)) << "p " << p << " run " << run;
      EXPECT_EQ(list.read_tensor_norms(), first_norms);
    }
  }
}

TEST_P(GradUtils, NanAndInfPropagate) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(to_string(dtype));
    for (const std::int64_t n : {std::int64_t(5), std::int64_t(70000)}) {
      std::vector<double> with_nan(std::size_t(n), 0.5), with_inf(std::size_t(n), -0.25),
          both(std::size_t(n), 1.0);
      with_nan[std::size_t(n) - 1] = std::nan("");
      with_inf[std::size_t(n) / 2] = -kInf;
      both[0] = kInf;
      both[std::size_t(n) - 2] = std::nan("");
      for (const double p : {2.0, 1.0, double(kInf), 3.0}) {
        SCOPED_TRACE("n " + std::to_string(n) + " norm_type " + std::to_string(p));
        Grads g;
        g.add(n, dtype, device, 0, std::vector<double>(std::size_t(n), 1.0));
        g.add(n, dtype, device, 1, with_inf);
        GradList inf_list(g.views());
        get_total_norm(inf_list, p);
        EXPECT_EQ(inf_list.read_total_norm(), kInf);
        EXPECT_TRUE(std::isfinite(inf_list.read_tensor_norms()[0]));
        EXPECT_EQ(inf_list.read_tensor_norms()[1], kInf);
        g.add(n, dtype, device, 0, with_nan);
        g.add(n, dtype, device, 1, both);
        GradList nan_list(g.views());
        get_total_norm(nan_list, p);
        EXPECT_EQ(bits_of(nan_list.read_total_norm()), 0x7fc00000u);  // NOTE(deterministic-fp)
        EXPECT_EQ(bits_of(nan_list.read_tensor_norms()[2]), 0x7fc00000u);
        EXPECT_EQ(bits_of(nan_list.read_tensor_norms()[3]), 0x7fc00000u);
      }
    }
  }
}

/// torch's clip coefficient in float: reciprocal(total + 1e-6) * max_norm, clamped to 1.
float torch_clip_coef(float total, double max_norm) {
  const float coef = (1.0f / (total + 1e-6f)) * float(max_norm);
  return coef > 1.0f ? 1.0f : coef;
}

TEST_P(GradUtils, ClipGradNormScalesByTorchsCoefficient) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  std::mt19937_64 rng(fresh_seed());
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(to_string(dtype));
    for (const double max_norm : {1.0, 1e9}) {
      Grads g = random_grads(rng, dtype, device);
      std::vector<std::vector<double>> before;
      for (const auto& t : g.tensors) before.push_back(t->get());
      GradList list(g.views());
      get_total_norm(list, 2.0);
      const float norm = list.read_total_norm();
      const float* total = clip_grad_norm(list, max_norm, 2.0);
      EXPECT_EQ(bits_of(list.read_total_norm()), bits_of(norm));  // returned: the pre-clip norm
      clip_grad_norm(list, 1e30);  // the norm of the clipped values; coefficient 1: no change
      EXPECT_EQ(total, get_total_norm(list, 2.0));  // always the list's own scalar
      const float coef = torch_clip_coef(norm, max_norm);
      if (max_norm > 1e6) EXPECT_EQ(coef, 1.0f);
      for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        const std::vector<double> after = g.tensors[i]->get();
        for (std::size_t k = 0; k < after.size(); ++k)
          ASSERT_EQ(after[k], round_to(dtype, double(float(before[i][k]) * coef)))
              << "tensor " << i << " element " << k;
      }
      EXPECT_TRUE(g.guards_intact());
    }
  }
}

TEST_P(GradUtils, ClipGradNormNonFinite) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  Grads g;
  g.add(4099, DType::f32, device, 1, std::vector<double>(4099, 2.0));
  std::vector<double> values(70000, -1.0);
  values[123] = kInf;
  g.add(70000, DType::bf16, device, 0, values);
  GradList list(g.views());
  // error_if_nonfinite: throws, nothing changes.
  EXPECT_THROW(clip_grad_norm(list, 1.0, 2.0, /*error_if_nonfinite=*/true), Error);
  EXPECT_EQ(g.tensors[0]->get(), std::vector<double>(4099, 2.0));
  EXPECT_EQ(g.tensors[1]->get(), values);
  // Without: coefficient 0 (max_norm / inf), so finite elements become 0 (-0 for negative ones)
  // and the inf NaN, as torch.
  clip_grad_norm(list, 1.0);
  EXPECT_EQ(list.read_total_norm(), kInf);
  for (const double v : g.tensors[0]->get()) ASSERT_EQ(v, 0.0);
  const std::vector<double> after = g.tensors[1]->get();
  for (std::size_t k = 0; k < after.size(); ++k) {
    if (k == 123) {
      EXPECT_TRUE(std::isnan(after[k]));
    } else {
      ASSERT_EQ(after[k], 0.0);
      ASSERT_TRUE(std::signbit(after[k]));
    }
  }
  EXPECT_TRUE(g.guards_intact());
}

TEST_P(GradUtils, ClipGradValueClampsEveryElement) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  std::mt19937_64 rng(fresh_seed());
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(to_string(dtype));
    Grads g = random_grads(rng, dtype, device, 2.0);
    g.add(6, dtype, device, 1, {kInf, -kInf, std::nan(""), 0.0, -0.0, 1e-3});
    std::vector<std::vector<double>> before;
    for (const auto& t : g.tensors) before.push_back(t->get());
    GradList list(g.views());
    const double clip = 0.7;
    clip_grad_value(list, clip);
    const auto c = float(clip);
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
      const std::vector<double> after = g.tensors[i]->get();
      for (std::size_t k = 0; k < after.size(); ++k) {
        const auto x = float(before[i][k]);
        const float expected = x < -c ? -c : (x > c ? c : x);
        ASSERT_TRUE(same_value(after[k], round_to(dtype, expected))) << i << " " << k;
      }
    }
    EXPECT_TRUE(g.guards_intact());
  }
}

/// An fp32 scalar in device memory between guard zones.
struct Scalar {
  GuardedTensor t;
  Scalar(Device device, float value) : t(1, DType::f32, device) { t.set({value}); }
  float* ptr() const { return static_cast<float*>(t.view().data); }
  float get() const { return float(t.get()[0]); }
};

TEST_P(GradUtils, NonFiniteCheckAndUnscale) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  std::mt19937_64 rng(fresh_seed());
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(to_string(dtype));
    for (const bool inject : {false, true}) {
      Grads g = random_grads(rng, dtype, device, 100.0);
      if (inject) {
        std::vector<double> v = g.tensors[3]->get();  // 4099 elements, aligned
        v[4098] = std::nan("");
        g.tensors[3]->set(v);
      }
      std::vector<std::vector<double>> before;
      for (const auto& t : g.tensors) before.push_back(t->get());
      GradList list(g.views());
      Scalar found(device, 0.0f), inv(device, 0.3f);
      amp_foreach_non_finite_check_and_unscale(list, found.ptr(), inv.ptr());
      EXPECT_EQ(found.get(), inject ? 1.0f : 0.0f);
      for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        const std::vector<double> after = g.tensors[i]->get();
        for (std::size_t k = 0; k < after.size(); ++k)
          ASSERT_TRUE(same_value(after[k], round_to(dtype, double(float(before[i][k]) * 0.3f))))
              << i << " " << k;
      }
      // found_inf is never cleared; an inv_scale of 1 writes nothing.
      Scalar one(device, 1.0f);
      std::vector<std::vector<double>> unscaled;
      for (const auto& t : g.tensors) unscaled.push_back(t->get());
      found.t.set({1.0});
      amp_foreach_non_finite_check_and_unscale(list, found.ptr(), one.ptr());
      EXPECT_EQ(found.get(), 1.0f);
      for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        const std::vector<double> again = g.tensors[i]->get();
        for (std::size_t k = 0; k < unscaled[i].size(); ++k)
          ASSERT_TRUE(same_value(again[k], unscaled[i][k]));
      }
      EXPECT_TRUE(g.guards_intact());
      EXPECT_TRUE(found.t.guards_intact());
      EXPECT_TRUE(inv.t.guards_intact());
    }
  }
}

TEST_P(GradUtils, EmptyListsAndEmptyTensors) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  GradList empty(std::vector<TensorView>{});
  EXPECT_EQ(empty.size(), 0u);
  for (const double p : {2.0, 1.0, double(kInf), 3.0}) {
    get_total_norm(empty, p);
    EXPECT_EQ(empty.read_total_norm(), 0.0f);  // torch: tensor(0.)
  }
  clip_grad_norm(empty, 1.0);
  clip_grad_value(empty, 1.0);
  Grads g;
  g.add(0, DType::f16, device, 0, {});
  g.add(0, DType::f32, device, 1, {});
  GradList zeros(g.views());
  for (const double p : {2.0, 1.0, double(kInf), 3.0}) {
    get_total_norm(zeros, p);  // torch raises for the inf norm of an empty tensor; here 0
    EXPECT_EQ(zeros.read_total_norm(), 0.0f);
    EXPECT_EQ(zeros.read_tensor_norms(), (std::vector<float>{0.0f, 0.0f}));
  }
  clip_grad_norm(zeros, 1.0);
  EXPECT_TRUE(g.guards_intact());
}

// ---- GradScaler -------------------------------------------------------------------------------

/// The loop of generate_grad_utils.py's scaler cases: SGD(lr=0.125) over one parameter whose
/// gradient is (0.5, -0.25, 1) * scale, with an inf where the pattern says.
void run_scaler_loop(const GoldenScaler& c, Device device, bool unscale_first) {
  GuardedTensor w(3, DType::f32, device), grad(3, DType::f32, device);
  w.set({1, 2, 3});
  SGD opt({{w.view(), grad.view()}}, SGDOptions().lr(0.125));
  GradList grads(opt);
  GradScaler scaler(device, GradScalerOptions()
                                .init_scale(c.init_scale)
                                .growth_factor(c.growth_factor)
                                .backoff_factor(c.backoff_factor)
                                .growth_interval(c.growth_interval));
  std::int64_t infs = 0;
  for (int step = 0; step < kGoldenScalerSteps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const auto scale = float(scaler.get_scale());
    std::vector<double> g = {double(0.5f * scale), double(-0.25f * scale), double(1.0f * scale)};
    if (c.pattern[step] == '1') {
      g[1] = kInf;
      ++infs;
    }
    grad.set(g);
    if (unscale_first) scaler.unscale(grads);
    scaler.step(opt, grads);
    scaler.update();
    ASSERT_EQ(scaler.get_scale(), c.scales[std::size_t(step)]);
    ASSERT_EQ(scaler.get_growth_tracker(), c.trackers[std::size_t(step)]);
    const std::vector<double> p = w.get();
    for (std::size_t k = 0; k < 3; ++k) ASSERT_EQ(p[k], double(c.params[std::size_t(step)][k]));
  }
  EXPECT_EQ(scaler.skipped_steps(), infs);
  EXPECT_EQ(scaler.updates(), kGoldenScalerSteps);
  EXPECT_TRUE(w.guards_intact());
  EXPECT_TRUE(grad.guards_intact());
}

TEST_P(GradUtils, GradScalerMatchesTorchSequence) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  for (const GoldenScaler& c : kGoldenScaler) {
    SCOPED_TRACE(c.id);
    // torch's scaler.step(opt) unscales a non-fused optimizer's gradients (1 / scale in double,
    // as unscale() does): exact for every case.
    run_scaler_loop(c, device_of(GetParam()), /*unscale_first=*/true);
    // step() alone checks and lets the step divide by the scale, as torch's fused optimizers:
    // the same bits where the scale is a power of two.
    if (std::string(c.id) != "factors_1.5_0.25")
      run_scaler_loop(c, device_of(GetParam()), /*unscale_first=*/false);
  }
}

TEST_P(GradUtils, AmpUpdateScaleMatchesTorchKernel) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  for (const GoldenScaler& c : kGoldenScaler) {
    SCOPED_TRACE(c.id);
    Scalar scale(device, float(c.init_scale)), found(device, 0.0f);
    GuardedTensor tracker_memory(1, DType::f32, device);  // 4 bytes for the int32 tracker
    auto* tracker = static_cast<std::int32_t*>(tracker_memory.view().data);
    fill_view_bytes(tracker_memory.view(), 0);
    for (int step = 0; step < kGoldenScalerSteps; ++step) {
      // torch's found_inf for this step: the gradient held an inf.
      found.t.set({c.pattern[step] == '1' ? 1.0 : 0.0});
      amp_update_scale(scale.ptr(), tracker, found.ptr(), c.growth_factor, c.backoff_factor,
                       c.growth_interval, device);
      ASSERT_EQ(double(scale.get()), c.scales[std::size_t(step)]) << step;
      std::int32_t t = 0;
      copy_view_to_host(tracker_memory.view(), &t);
      ASSERT_EQ(t, c.trackers[std::size_t(step)]) << step;
    }
    EXPECT_TRUE(scale.t.guards_intact());
    EXPECT_TRUE(tracker_memory.guards_intact());
  }
}

TEST_P(GradUtils, GradScalerSkipsOnlyTheOverflowingList) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  GuardedTensor w1(4, DType::f32, device), g1(4, DType::f32, device);
  GuardedTensor w2(70000, DType::bf16, device, 1), g2(70000, DType::bf16, device, 1);
  w1.set({1, 1, 1, 1});
  w2.set(std::vector<double>(70000, 1.0));
  SGD opt1({{w1.view(), g1.view()}}, SGDOptions().lr(0.5));
  SGD opt2({{w2.view(), g2.view()}}, SGDOptions().lr(0.5));
  GradList grads1(opt1), grads2(opt2);
  GradScaler scaler(device, GradScalerOptions().init_scale(1024));
  g1.set({1024, kInf, 1024, 1024});
  g2.set(std::vector<double>(70000, 1024.0));
  scaler.unscale(grads1);
  clip_grad_norm(grads1, 1.0);  // NaN now, but the step is skipped
  scaler.step(opt1, grads1);
  scaler.step(opt2, grads2);  // checks grads2 (no inf) and divides by the scale
  scaler.update();
  EXPECT_EQ(w1.get(), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(w2.get(), std::vector<double>(70000, 0.5));
  EXPECT_EQ(scaler.get_scale(), 512.0);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  // The flags were cleared by update().
  g1.set({512, 512, 512, 512});
  scaler.step(opt1, grads1);
  scaler.update();
  EXPECT_EQ(w1.get(), (std::vector<double>{0.5, 0.5, 0.5, 0.5}));
  EXPECT_EQ(scaler.skipped_steps(), 1);
  EXPECT_EQ(scaler.get_growth_tracker(), 1);
}

TEST_P(GradUtils, GradScalerRulesStateAndDisabled) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  GuardedTensor w(3, DType::f32, device), g(3, DType::f32, device);
  SGD opt({{w.view(), g.view()}}, SGDOptions().lr(1.0));
  GradList grads(opt);
  GradScaler scaler(device);
  EXPECT_EQ(scaler.get_scale(), 65536.0);  // torch's defaults
  EXPECT_EQ(scaler.get_growth_factor(), 2.0);
  EXPECT_EQ(scaler.get_backoff_factor(), 0.5);
  EXPECT_EQ(scaler.get_growth_interval(), 2000);
  EXPECT_EQ(scaler.get_growth_tracker(), 0);
  EXPECT_TRUE(scaler.is_enabled());
  EXPECT_THROW(scaler.update(), Error);  // no inf checks recorded
  scaler.unscale(grads);
  EXPECT_THROW(scaler.unscale(grads), Error);  // twice
  scaler.step(opt, grads);
  EXPECT_THROW(scaler.step(opt, grads), Error);  // twice
  EXPECT_THROW(scaler.unscale(grads), Error);    // after step
  scaler.update();
  scaler.check(grads);
  EXPECT_THROW(scaler.unscale(grads), Error);  // after check: the step divides
  scaler.update(1024.0);                       // a new scale needs no check
  EXPECT_EQ(scaler.get_scale(), 1024.0);
  EXPECT_EQ(scaler.get_growth_tracker(), 1);  // kept

  const std::optional<GradScalerState> state = scaler.state_dict();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->scale, 1024.0);
  EXPECT_EQ(state->growth_tracker, 1);
  GradScaler other(device, GradScalerOptions().growth_interval(5));
  other.load_state_dict(GradScalerState{256.0, 3.0, 0.25, 7, 4});
  EXPECT_EQ(other.get_scale(), 256.0);
  EXPECT_EQ(other.get_growth_tracker(), 4);
  EXPECT_EQ(other.get_growth_factor(), 3.0);
  EXPECT_EQ(other.get_growth_interval(), 7);
  other.load_state_dict(state);
  EXPECT_EQ(other.state_dict()->scale, 1024.0);
  EXPECT_THROW(other.load_state_dict(std::nullopt), Error);
  EXPECT_THROW(other.load_state_dict(GradScalerState{-1.0, 2.0, 0.5, 1, 0}), Error);
  EXPECT_EQ(other.get_scale(), 1024.0);  // unchanged

  // Disabled: no-ops, scale 1, step just steps.
  GradScaler off(device, GradScalerOptions().enabled(false).growth_factor(0.5));  // not validated
  EXPECT_FALSE(off.is_enabled());
  EXPECT_EQ(off.get_scale(), 1.0);
  EXPECT_FALSE(off.state_dict().has_value());
  off.load_state_dict(std::nullopt);
  w.set({1, 1, 1});
  g.set({1, kInf, 1});
  off.unscale(grads);
  off.step(opt, grads);
  off.update();
  const std::vector<double> after = w.get();
  EXPECT_EQ(after[0], 0.0);
  EXPECT_EQ(after[1], -kInf);
}

std::string executor_name(const ::testing::TestParamInfo<Executor>& info) {
  return to_string(info.param);
}
INSTANTIATE_TEST_SUITE_P(Executors, GradUtils, ::testing::ValuesIn(native_executors()), executor_name);
INSTANTIATE_TEST_SUITE_P(Emulated, GradUtils, ::testing::Values(Executor::emulated), executor_name);

// ---- golden values from PyTorch, on every executor ------------------------------------------------

class GradUtilsGolden : public ::testing::TestWithParam<Executor> {};

/// How far apart two fp32 summation orders of the golden "random" cases may land (torch's CPU
/// L1 sum of 64 terms is 3 ulps from the exact value there).
constexpr std::int64_t kTorchOrderUlps = 4;

Grads golden_grads(const std::vector<Floats>& values, Device device) {
  Grads g;
  int misalign = 0;
  for (const Floats& v : values) {
    g.add(std::int64_t(v.size()), DType::f32, device, misalign, std::vector<double>(v.begin(), v.end()));
    misalign ^= 1;
  }
  return g;
}

void expect_values(const Grads& g, const std::vector<Floats>& expected, std::int64_t max_ulps) {
  ASSERT_EQ(g.tensors.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const std::vector<double> got = g.tensors[i]->get();
    for (std::size_t k = 0; k < got.size(); ++k) {
      const auto x = float(got[k]);
      const float e = expected[i][k];
      if (std::isnan(e)) {
        ASSERT_TRUE(std::isnan(x)) << "tensor " << i << " element " << k << ": " << x;
      } else if (!std::isfinite(e) || max_ulps == 0) {
        ASSERT_TRUE(x == e && std::signbit(x) == std::signbit(e))
            << "tensor " << i << " element " << k << ": " << x << " vs torch " << e;
      } else {
        ASSERT_LE(ulps(x, e), max_ulps) << "tensor " << i << " element " << k << ": " << x
                                        << " vs torch " << e;
      }
    }
  }
  EXPECT_TRUE(g.guards_intact());
}

TEST_P(GradUtilsGolden, ClipGradNorm) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  for (const GoldenClipNorm& c : kGoldenClipNorm) {
    SCOPED_TRACE(c.id);
    Grads g = golden_grads(c.grads, device);
    GradList list(g.views());
    clip_grad_norm(list, c.max_norm, c.norm_type);
    const float total = list.read_total_norm();
    const std::vector<float> norms = list.read_tensor_norms();
    const bool plain_root = c.norm_type == 1.0 || c.norm_type == 2.0 || std::isinf(c.norm_type);
    if (!std::isfinite(c.total_norm) || (c.exact && plain_root)) {
      EXPECT_TRUE(same_value(total, c.total_norm)) << total << " vs torch " << c.total_norm;
      for (std::size_t i = 0; i < norms.size(); ++i)
        EXPECT_TRUE(same_value(norms[i], c.tensor_norms[i])) << i;
      expect_values(g, c.clipped, 0);
    } else if (c.exact) {
      // p = 3: the sums are exact, but the roots and the cubes of the per-tensor norms are
      // rounded (torch's std::pow, fusedopt's det_pow): 1 ulp, 2 for the clipped values.
      EXPECT_LE(ulps(total, c.total_norm), 1) << total << " vs torch " << c.total_norm;
      for (std::size_t i = 0; i < norms.size(); ++i) EXPECT_LE(ulps(norms[i], c.tensor_norms[i]), 1) << i;
      expect_values(g, c.clipped, 2);
    } else {
      // fp32 sums in another order than torch's (its CPU sum is sequential): up to
      // kTorchOrderUlps apart, for the norms and for what they scale; fusedopt's within 1 ulp
      // of the double-precision norm.
      std::vector<std::vector<double>> inputs;
      for (const Floats& v : c.grads) inputs.emplace_back(v.begin(), v.end());
      const RefNorms ref = reference_norms(inputs, c.norm_type);
      EXPECT_LE(ulps(total, c.total_norm), kTorchOrderUlps) << total << " vs torch " << c.total_norm;
      EXPECT_LE(ulps(total, float(ref.total)), 1) << total << " vs double " << ref.total;
      for (std::size_t i = 0; i < norms.size(); ++i) {
        EXPECT_LE(ulps(norms[i], c.tensor_norms[i]), kTorchOrderUlps) << i;
        EXPECT_LE(ulps(norms[i], float(ref.tensors[i])), 1) << i;
      }
      expect_values(g, c.clipped, kTorchOrderUlps);
    }
  }
}

TEST_P(GradUtilsGolden, ClipGradValue) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  for (const GoldenClipValue& c : kGoldenClipValue) {
    SCOPED_TRACE(c.id);
    Grads g = golden_grads(c.grads, device_of(GetParam()));
    GradList list(g.views());
    clip_grad_value(list, c.clip_value);
    expect_values(g, c.clipped, 0);
  }
}

TEST_P(GradUtilsGolden, NonFiniteCheckAndUnscale) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  for (const GoldenUnscale& c : kGoldenUnscale) {
    SCOPED_TRACE(c.id);
    Grads g = golden_grads(c.grads, device);
    GradList list(g.views());
    Scalar found(device, 0.0f), inv(device, c.inv_scale);
    amp_foreach_non_finite_check_and_unscale(list, found.ptr(), inv.ptr());
    EXPECT_EQ(found.get(), c.found_inf);
    expect_values(g, c.unscaled, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Executors, GradUtilsGolden, ::testing::ValuesIn(native_executors()),
                         executor_name);
INSTANTIATE_TEST_SUITE_P(Emulated, GradUtilsGolden, ::testing::Values(Executor::emulated),
                         executor_name);

// ---- across executors, errors ---------------------------------------------------------------------

/// NOTE(grad-norm): the same bits on the CPU executor (at 1, 2 and 8 threads), the emulated
/// device (two block and lane orders) and, where there is one, the GPU.
TEST(GradUtilsDeterminism, NormIsBitwiseIdenticalAcrossExecutors) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const bool gpu = cuda_available();
  if (gpu_required()) ASSERT_TRUE(gpu) << "FUSEDOPT_REQUIRE_GPU=1 but no CUDA device: the GPU leg cannot run";
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(to_string(dtype));
    std::mt19937_64 rng(seed);
    // Values over a wide range of magnitudes, so that any change of summation order shows in
    // the bits; lengths with tails in many positions, aligned and misaligned.
    Grads host = random_grads(rng, dtype, Device::cpu(), 2.0);
    std::uniform_int_distribution<int> exponent(-10, 10);
    for (const std::int64_t n : {4099, 6151, 12347, 65543, 131071, 3 * 65536 + 17})
      for (const int misalign : {0, 1}) {
        std::vector<double> v = random_values(rng, n, 1.0, DType::f32);
        for (double& x : v) x = round_to(dtype, std::ldexp(x, exponent(rng)));
        host.add(n, dtype, Device::cpu(), misalign, v);
      }
    std::unique_ptr<Grads> cuda;
    if (gpu) {
      cuda = std::make_unique<Grads>();
      for (std::size_t i = 0; i < host.tensors.size(); ++i)
        cuda->add(host.tensors[i]->numel(), dtype, Device::cuda(0), host.misaligns[i],
                  host.tensors[i]->get());
    }
    GradList list(host.views());
    for (const double p : {2.0, 1.0, double(kInf), 3.0, 0.5}) {
      SCOPED_TRACE("norm_type " + std::to_string(p));
      std::vector<std::vector<float>> runs;
      for (const Executor e : {Executor::cpu, Executor::emulated, Executor::emulated}) {
        const UseExecutor use(e);
        get_total_norm(list, p);
        std::vector<float> out = list.read_tensor_norms();
        out.push_back(list.read_total_norm());
        runs.push_back(out);
      }
      if (UseThreads::available())
        for (const int threads : kThreadCounts) {
          const UseThreads use(threads);
          get_total_norm(list, p);
          std::vector<float> out = list.read_tensor_norms();
          out.push_back(list.read_total_norm());
          runs.push_back(out);
        }
      if (cuda) {
        GradList device_list(cuda->views());
        get_total_norm(device_list, p);
        std::vector<float> out = device_list.read_tensor_norms();
        out.push_back(device_list.read_total_norm());
        runs.push_back(out);
      }
      for (std::size_t r = 1; r < runs.size(); ++r)
        for (std::size_t i = 0; i < runs[0].size(); ++i)
          ASSERT_EQ(bits_of(runs[r][i]), bits_of(runs[0][i])) << "run " << r << " value " << i;
    }
  }
}

TEST(GradUtilsErrors, NameTheArgumentAndValue) {
  const Device cpu = Device::cpu();
  GuardedTensor a(8, DType::f32, cpu), b(8, DType::f16, cpu);
  GradList list({a.view(), b.view()});  // dtypes may mix
  const auto expect_error = [](const auto& call, const std::string& text) {
    try {
      call();
      ADD_FAILURE() << "no Error; expected one mentioning " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  for (const double p : {0.0, -1.0, std::nan(""), -double(kInf)})
    expect_error([&] { get_total_norm(list, p); }, "norm_type");
  expect_error([&] { clip_grad_norm(list, -1.0); }, "max_norm must be >= 0, got -1");
  expect_error([&] { clip_grad_norm(list, std::nan("")); }, "max_norm");
  expect_error([&] { clip_grads_with_norm(list, 1.0, nullptr); }, "total_norm is null");
  expect_error([&] { clip_grad_value(list, -0.5); }, "clip_value must be >= 0, got -0.5");
  expect_error([&] { clip_grad_value(list, std::nan("")); }, "clip_value");
  Scalar s(cpu, 1.0f);
  expect_error([&] { amp_foreach_non_finite_check_and_unscale(list, nullptr, s.ptr()); },
               "found_inf is null");
  expect_error([&] { amp_foreach_non_finite_check_and_unscale(list, s.ptr(), nullptr); },
               "inv_scale is null");
  expect_error([&] { (void)GradList({a.view(), TensorView{nullptr, 5, DType::f32, cpu}}); },
               "grads[1].data is null");
  TensorView overlap = a.view();
  overlap.data = static_cast<float*>(overlap.data) + 4;
  expect_error([&] { (void)GradList({b.view(), a.view(), overlap}); }, "grads[1] and grads[2] overlap");
  TensorView gpu = a.view();
  gpu.device = Device::cuda(0);
  if (!cuda_available()) expect_error([&] { (void)GradList({a.view(), gpu}); }, "grads[1].device");
  std::int32_t tracker = 0;
  float found = 0;
  expect_error([&] { amp_update_scale(s.ptr(), &tracker, &found, 2.0, 0.5, 0, cpu); },
               "growth_interval must be in [1, 2^31 - 1], got 0");
  expect_error([&] { amp_update_scale(nullptr, &tracker, &found, 2.0, 0.5, 1, cpu); },
               "scale is null");
  expect_error([&] { (void)GradScaler(cpu, GradScalerOptions().growth_factor(1.0)); },
               "growth_factor must be > 1.0");
  expect_error([&] { (void)GradScaler(cpu, GradScalerOptions().backoff_factor(1.0)); },
               "backoff_factor must be in (0, 1), got 1");
  expect_error([&] { (void)GradScaler(cpu, GradScalerOptions().growth_interval(0)); },
               "growth_interval");
  expect_error([&] { (void)GradScaler(cpu, GradScalerOptions().init_scale(0)); }, "init_scale");
  expect_error([&] { (void)GradScaler(cpu, GradScalerOptions().init_scale(1e39)); }, "init_scale");
  GradScaler scaler(cpu);
  expect_error([&] { scaler.set_growth_interval(-3); }, "got -3");
  expect_error([&] { scaler.update(-2.0); }, "new_scale");
  // Without CUDA, a scaler asked for it is disabled as torch's is (tests/test_usage_traps.cpp);
  // with CUDA, a device that does not exist is refused.
  if (!cuda_available()) EXPECT_FALSE(GradScaler(Device::cuda(0)).is_enabled());
  if (cuda_available()) expect_error([&] { (void)GradScaler(Device::cuda(99)); }, "cuda:99");
}

TEST(GradUtilsApi, ListOfAnOptimizerAndItsViews) {
  GuardedTensor w1(3, DType::f32, Device::cpu()), g1(3, DType::f32, Device::cpu());
  GuardedTensor w2(5, DType::bf16, Device::cpu()), g2(5, DType::bf16, Device::cpu());
  std::vector<Param> first = {{w1.view(), g1.view()}}, second = {{w2.view(), g2.view()}};
  Adam opt({{first}, {second, AdamOptions().lr(0.1)}});
  GradList list(opt);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.views()[0].data, g1.view().data);
  EXPECT_EQ(list.views()[1].data, g2.view().data);
  EXPECT_EQ(list.device(), Device::cpu());
  EXPECT_EQ(list.stream(), opt.stream());
  g1.set({3, 0, 4});
  g2.set({0, 0, 0, 0, 0});
  const float* total = clip_grad_norm(list, 1.0);
  EXPECT_EQ(*total, 5.0f);  // a host pointer on the CPU
  EXPECT_EQ(list.read_tensor_norms(), (std::vector<float>{5.0f, 0.0f}));
  EXPECT_EQ(list.tensor_norms()[0], 5.0f);
  GradList moved(std::move(list));
  EXPECT_EQ(moved.size(), 2u);
}

}  // namespace
}  // namespace fusedopt::testing
