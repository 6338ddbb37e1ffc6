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

}  // namespace
}  // namespace fusedopt::testing
