// kernels/engine/dtype.h (used by both executors) against test_util.hpp's f16 and bf16 rounding
// (exact double arithmetic, itself checked against a table of every f16 value and the compiler's
// _Float16), and the test data helpers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "kernels/engine/apply.h"
#include "kernels/engine/dtype.h"
#include "kernels/optimizers/adam.h"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

using kernels::BFloat16;
using kernels::Half;

float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

TEST(DType, HalfToFloatIsExactForEveryBitPattern) {
  for (std::uint32_t bits = 0; bits < 65536; ++bits) {
    const auto b = std::uint16_t(bits);
    const float want = f16_value(b);
    const float got = kernels::to_float(Half{b});
    ASSERT_TRUE(same_float(got, want)) << "bits 0x" << std::hex << bits;
    if (!std::isnan(want)) ASSERT_EQ(std::signbit(got), std::signbit(want));
  }
}

TEST(DType, FloatToHalfRoundsToNearestEven) {
  std::mt19937 rng(12345);
  std::vector<float> inputs = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, 1e9f, -1e9f,
                               5.96e-8f, 2.98e-8f, 2.99e-8f, 6.1e-5f, 6.09e-5f,
                               std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::denorm_min()};
  for (int i = 0; i < 2000000; ++i) inputs.push_back(bits_to_float(rng()));
  // Every finite f16 value, the midpoint to the next one and the floats beside it, both signs.
  for (std::uint32_t k = 0; k < 0x7c00u; ++k) {
    const float value = f16_value(std::uint16_t(k));
    const float next = k + 1 < 0x7c00u ? f16_value(std::uint16_t(k + 1)) : 65536.0f;
    const float mid = float((double(value) + double(next)) / 2);  // exact in float
    for (const float x : {value, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, HUGE_VALF)}) {
      inputs.push_back(x);
      inputs.push_back(-x);
    }
  }
  for (float x : inputs) {
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(kernels::to_float(kernels::from_float<Half>(x))));
      continue;
    }
    const std::uint16_t want_bits = f16_bits(x);
    ASSERT_EQ(kernels::from_float<Half>(x).bits, want_bits) << "x = " << x;
  }
}

// The f16 reference (test_util.hpp's exact double arithmetic) against a second, table-based
// rounding, in every build (clang 14 has no _Float16 to compare with): the nearest of the
// 31,744 finite non-negative f16 values by binary search, ties to the even bit pattern, at every
// value, every midpoint and the floats beside it, and at 1M random floats.
TEST(DType, SoftwareHalfReferenceMatchesATableOfEveryValue) {
  std::vector<double> table;  // finite non-negative f16 values, in bit order = increasing
  for (std::uint32_t k = 0; k < 0x7c00u; ++k)
    table.push_back(k < 1024 ? std::ldexp(double(k), -24)
                             : std::ldexp(double(1024 + (k & 1023)), int(k >> 10) - 25));
  const auto nearest = [&](float x) -> float {
    const double a = std::fabs(double(x));
    if (a >= 65520.0) return std::copysign(HUGE_VALF, x);  // past 65504 + half its ulp (a tie: up)
    if (a > 65504.0) return std::copysign(65504.0f, x);      // nearer 65504 than 2^16
    const auto hi = std::size_t(std::lower_bound(table.begin(), table.end(), a) - table.begin());
    if (hi < table.size() && table[hi] == a) return x;
    const std::size_t lo = hi - 1;
    const double dl = a - table[lo], dh = table[hi] - a;
    const std::size_t k = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
    return float(std::copysign(table[k], double(x)));
  };
  for (std::uint32_t k = 0; k < 0x7c00u; ++k) {
    const auto value = float(table[k]);
    ASSERT_EQ(soft_f16_value(std::uint16_t(k)), value) << "bits " << k;
    ASSERT_EQ(soft_f16_value(std::uint16_t(k | 0x8000u)), -value) << "bits " << k;
    ASSERT_EQ(soft_f16_bits(value), k);
    const float next = k + 1 < 0x7c00u ? float(table[k + 1]) : 65536.0f;
    const float mid = float((double(value) + double(next)) / 2);  // exact in float
    for (const float x : {value, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, HUGE_VALF)}) {
      ASSERT_TRUE(same_float(soft_round_f16(x), nearest(x))) << "x = " << x;
      ASSERT_TRUE(same_float(soft_round_f16(-x), nearest(-x))) << "x = " << -x;
    }
  }
  std::mt19937 rng(977);
  for (int i = 0; i < 1000000; ++i) {
    const float x = bits_to_float(rng());
    if (std::isnan(x)) continue;
    ASSERT_TRUE(same_float(soft_round_f16(x), nearest(x))) << "x = " << x;
  }
}

// The f16 reference against the compiler's _Float16, where it has one (the table test above runs
// everywhere).
#if FUSEDOPT_TEST_HAS_FLOAT16
TEST(DType, SoftwareHalfReferenceMatchesFloat16) {
  for (std::uint32_t bits = 0; bits < 65536; ++bits) {
    const auto b = std::uint16_t(bits);
    _Float16 h;
    std::memcpy(&h, &b, 2);
    ASSERT_TRUE(same_float(soft_f16_value(b), static_cast<float>(h)))
        << "bits 0x" << std::hex << bits;
    if (!std::isnan(static_cast<float>(h))) ASSERT_EQ(soft_f16_bits(static_cast<float>(h)), b);
  }
  std::mt19937 rng(4242);
  for (int i = 0; i < 1000000; ++i) {
    const float x = bits_to_float(rng());
    if (std::isnan(x)) continue;
    const _Float16 want = static_cast<_Float16>(x);
    std::uint16_t want_bits;
    std::memcpy(&want_bits, &want, 2);
    ASSERT_EQ(soft_f16_bits(soft_round_f16(x)), want_bits) << "x = " << x;
  }
}
#endif

// ulp(): the spacing of each storage type at |x|, subnormal spacing at 0 and below the normal
// range.
TEST(TestData, UlpIsTheSpacingOfTheStorageType) {
  EXPECT_EQ(ulp(DType::f16, 1.0), std::ldexp(1.0, -10));
  EXPECT_EQ(ulp(DType::f16, -1.999), std::ldexp(1.0, -10));
  EXPECT_EQ(ulp(DType::f16, 2.0), std::ldexp(1.0, -9));
  EXPECT_EQ(ulp(DType::f16, 65504.0), 32.0);
  EXPECT_EQ(ulp(DType::f16, 0.0), std::ldexp(1.0, -24));
  EXPECT_EQ(ulp(DType::f16, 1e-6), std::ldexp(1.0, -24));
  EXPECT_EQ(ulp(DType::bf16, 3.0), std::ldexp(1.0, -6));
  EXPECT_EQ(ulp(DType::bf16, 1e-39), std::ldexp(1.0, -133));
  EXPECT_EQ(ulp(DType::f32, 1.0), std::ldexp(1.0, -23));
  EXPECT_EQ(ulp(DType::f32, 0.0), std::ldexp(1.0, -149));
}

// random_values(): normal with the asked standard deviation (1M values: the bounds are more
// than 6 standard errors wide), rounded to the dtype, a fresh sequence per draw.
TEST(TestData, RandomValuesAreNormalAndRounded) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    const std::vector<double> v = random_values(rng, 1000001, 0.5, dtype);  // odd: the last pair
    ASSERT_EQ(v.size(), 1000001u);
    double sum = 0, sum_sq = 0;
    std::size_t negative = 0, beyond_2_sigma = 0;
    for (const double x : v) {
      ASSERT_EQ(x, round_to(dtype, x)) << to_string(dtype);
      sum += x;
      sum_sq += x * x;
      negative += x < 0;
      beyond_2_sigma += std::abs(x) > 1.0;
    }
    const double n = double(v.size());
    EXPECT_NEAR(sum / n, 0.0, 0.003) << to_string(dtype);
    EXPECT_NEAR(std::sqrt(sum_sq / n), 0.5, 0.0025) << to_string(dtype);
    EXPECT_NEAR(double(negative) / n, 0.5, 0.003) << to_string(dtype);
    EXPECT_NEAR(double(beyond_2_sigma) / n, 0.0455, 0.0015) << to_string(dtype);  // 2 * Phi(-2)
  }
  const std::vector<double> a = random_values(rng, 4, 1.0, DType::f32);
  const std::vector<double> b = random_values(rng, 4, 1.0, DType::f32);
  EXPECT_NE(a, b);
}

TEST(DType, BFloat16RoundTripAndRounding) {
  std::mt19937 rng(777);
  for (int i = 0; i < 2000000; ++i) {
    const float x = bits_to_float(rng());
    const float got = kernels::to_float(kernels::from_float<BFloat16>(x));
    if (std::isnan(x)) {  // NOTE(nan-bits): the quiet NaN of the high half's sign and payload
      std::uint32_t u;
      std::memcpy(&u, &x, 4);
      ASSERT_EQ(kernels::from_float<BFloat16>(x).bits, std::uint16_t((u >> 16) | 0x40u))
          << "NaN bits 0x" << std::hex << u;
      continue;
    }
    ASSERT_TRUE(same_float(got, float(round_to(DType::bf16, x)))) << "x = " << x;
  }
  for (std::uint32_t bits = 0; bits < 65536; ++bits) {  // every bf16 value survives a round trip
    const float f = kernels::to_float(BFloat16{std::uint16_t(bits)});
    if (!std::isnan(f)) ASSERT_EQ(kernels::from_float<BFloat16>(f).bits, bits);
  }
}

// NOTE(nan-bits): every f16 and bf16 bit pattern, loaded and stored by a kernel of each
// executor (AveragedModel's first update copies the parameter through float), comes back as
// dtype.h defines on the host: unchanged, or for a NaN the quiet NaN of its sign and payload
// (f16: sign | 0x7e00; bf16: the pattern | 0x40). On a GPU this checks the device conversions.
std::uint16_t expected_round_trip(DType dtype, std::uint16_t bits) {
  if (dtype == DType::f16)
    return (bits & 0x7fffu) > 0x7c00u ? std::uint16_t((bits & 0x8000u) | 0x7e00u) : bits;
  return (bits & 0x7fffu) > 0x7f80u ? std::uint16_t(bits | 0x40u) : bits;
}

class EveryBitPattern : public ::testing::TestWithParam<std::tuple<Executor, DType, Impl>> {};

TEST_P(EveryBitPattern, SurvivesAKernelsLoadAndStore) {
  const auto [executor, dtype, impl] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  constexpr std::int64_t kPatterns = 65536;
  std::vector<unsigned char> host(kPatterns * 2);
  for (std::int64_t i = 0; i < kPatterns; ++i) {
    const auto bits = std::uint16_t(i);
    std::memcpy(host.data() + 2 * i, &bits, 2);
  }
  DeviceBytes source(host.size(), device);
  source.upload(host);
  const TensorView view{source.data(), kPatterns, dtype, device};
  AveragedModel model(std::vector<TensorView>{view}, ema_decay(0.5));
  model.set_impl(impl);
  fill_view_bytes(model.averaged()[0], 0xA7);  // only what the kernel stores shows
  model.update();
  model.synchronize();
  std::vector<unsigned char> out(host.size());
  copy_view_to_host(model.averaged()[0], out.data());
  int reported = 0;
  for (std::int64_t i = 0; i < kPatterns && reported < 10; ++i) {
    std::uint16_t got;
    std::memcpy(&got, out.data() + 2 * i, 2);
    const std::uint16_t want = expected_round_trip(dtype, std::uint16_t(i));
    if (got != want) {
      ADD_FAILURE() << to_string(dtype) << " pattern 0x" << std::hex << i << " came back as 0x"
                    << got << ", expected 0x" << want;
      ++reported;
    }
  }
}

std::string pattern_name(
    const ::testing::TestParamInfo<std::tuple<Executor, DType, Impl>>& info) {
  return std::string(to_string(std::get<1>(info.param))) + "_" +
         to_string(std::get<2>(info.param)) + "_" + to_string(std::get<0>(info.param));
}
INSTANTIATE_TEST_SUITE_P(Executors, EveryBitPattern,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::Values(DType::f16, DType::bf16),
                                            ::testing::Values(Impl::Fused, Impl::Loop)),
                         pattern_name);
INSTANTIATE_TEST_SUITE_P(Emulated, EveryBitPattern,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::Values(DType::f16, DType::bf16),
                                            ::testing::Values(Impl::Fused, Impl::Loop)),
                         pattern_name);


// Every bf16 bit pattern in every state tensor of AdamW with amsgrad and bf16 state (a hostile
// checkpoint can load any bits; amsgrad's maximum passes a NaN through without arithmetic): the
// CPU executor's fused loop (float columns, NaNs quieted on load, truncating store) stores the
// same bits as the device's element loop (update_range over 4 lanes, rounding every store), and
// every stored NaN is quiet.
TEST(Bf16StateBits, CpuLoopStoresTheDeviceLoopsBitsForEveryStatePattern) {
  using Op = kernels::AdamWStepOp;
  using T = kernels::Bf16State<BFloat16>;
  constexpr std::int64_t n = 65536;
  struct Lists {
    std::vector<std::uint16_t> p, g, s0, s1, s2;
  };
  Lists init;
  for (std::int64_t i = 0; i < n; ++i) {
    init.p.push_back(0x3f80);  // 1.0
    init.g.push_back(std::uint16_t(i % 2 ? 0x3c24 : 0xbc24));  // +-0.01
    init.s0.push_back(std::uint16_t(i));
    init.s1.push_back(std::uint16_t(std::uint32_t(i) * 40503u));  // odd: every pattern once
    init.s2.push_back(std::uint16_t(i ^ 0x5555));
  }
  kernels::GroupScalars group{};
  group.hyper[Op::kLr] = 1e-3;
  group.hyper[Op::kBeta1] = 0.9;
  group.hyper[Op::kBeta2] = 0.999;
  group.hyper[Op::kEps] = 1e-8;
  group.hyper[Op::kWeightDecay] = 1e-2;
  group.flags = Op::kAmsgrad;
  const auto run = [&](int lanes) {
    Lists l = init;
    float step = 0.0f;
    double param_state = 0.0;
    kernels::StepScalars scalars{};
    scalars.groups = &group;
    scalars.steps = &step;
    scalars.param_state = &param_state;
    kernels::TensorEntry tensor{};
    tensor.lists[0] = l.p.data();
    tensor.lists[1] = l.g.data();
    tensor.lists[2] = l.s0.data();
    tensor.lists[3] = l.s1.data();
    tensor.lists[4] = l.s2.data();
    tensor.numel = n;
    const kernels::ChunkEntry chunk{0, 0};
    const kernels::PlanView plan{&tensor, &chunk};
    for (int lane = 0; lane < lanes; ++lane) kernels::step_chunk<Op, T>(plan, scalars, 0, lane, lanes);
    return l;
  };
  const Lists cpu = run(1), device = run(4);
  const auto check = [](const char* name, const std::vector<std::uint16_t>& got,
                        const std::vector<std::uint16_t>& want) {
    int reported = 0;
    for (std::size_t i = 0; i < got.size() && reported < 5; ++i) {
      const bool quiet = (got[i] & 0x7fffu) <= 0x7f80u || (got[i] & 0x40u) != 0;
      if (got[i] != want[i] || !quiet) {
        ADD_FAILURE() << name << "[" << i << "]: CPU loop 0x" << std::hex << got[i]
                      << ", device loop 0x" << want[i];
        ++reported;
      }
    }
  };
  check("param", cpu.p, device.p);
  check("exp_avg", cpu.s0, device.s0);
  check("exp_avg_sq", cpu.s1, device.s1);
  check("max_exp_avg_sq", cpu.s2, device.s2);
}

}  // namespace
}  // namespace fusedopt::testing
