// kernels/engine/dtype.h (used by both executors) against the compiler's _Float16 and an independent
// bfloat16 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "kernels/engine/dtype.h"
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
  for (float x : inputs) {
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(kernels::to_float(kernels::from_float<Half>(x))));
      continue;
    }
    const std::uint16_t want_bits = f16_bits(x);
    ASSERT_EQ(kernels::from_float<Half>(x).bits, want_bits) << "x = " << x;
  }
}

// The software f16 reference (used by compilers without _Float16) against _Float16.
TEST(DType, SoftwareHalfReferenceMatchesFloat16) {
#if FUSEDOPT_TEST_HAS_FLOAT16
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
#else
  GTEST_SKIP() << "this compiler has no _Float16 to check the software f16 reference against";
#endif
}

TEST(DType, BFloat16RoundTripAndRounding) {
  std::mt19937 rng(777);
  for (int i = 0; i < 2000000; ++i) {
    const float x = bits_to_float(rng());
    const float got = kernels::to_float(kernels::from_float<BFloat16>(x));
    if (std::isnan(x)) {
      ASSERT_TRUE(std::isnan(got));
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

}  // namespace
}  // namespace fusedopt::testing
