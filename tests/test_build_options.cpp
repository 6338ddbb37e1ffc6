// NOTE(build-what-you-use): the error for a step the build left out names the configure option
// that would include it, for every way a storage type can be left out. The end-to-end check (a
// library built with few optimizers and dtypes) is tests/build_options/, run by scripts/test.sh.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "fusedopt/error.hpp"
#include "host/engine/executor.hpp"

namespace fusedopt::testing {
namespace {

using detail::storage_bit;
using kernels::BFloat16;
using kernels::Half;
using kernels::Master;

detail::SegmentLaunch segment(DType dtype, bool master_weights = false, bool bf16_state = false) {
  detail::SegmentLaunch s{};
  s.dtype = dtype;
  s.master_weights = master_weights;
  s.bf16_state = bf16_state;
  return s;
}

/// The message check_built throws for `s` under `built`, or "" when it does not throw.
std::string left_out(std::uint32_t built, const detail::SegmentLaunch& s) {
  try {
    detail::check_built(built, s, "AdamW", "adam");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

constexpr std::uint32_t kAll = 127;

TEST(BuildOptions, EveryStorageTypeHasItsOwnBit) {
  const std::uint32_t bits[] = {storage_bit<float>(),
                                storage_bit<Half>(),
                                storage_bit<BFloat16>(),
                                storage_bit<Master<Half>>(),
                                storage_bit<Master<BFloat16>>(),
                                storage_bit<kernels::Bf16State<BFloat16>>(),
                                storage_bit<kernels::Bf16State<Master<BFloat16>>>()};
  std::uint32_t seen = 0;
  for (std::uint32_t bit : bits) {
    EXPECT_EQ(bit & (bit - 1), 0u) << "one bit each";
    EXPECT_EQ(seen & bit, 0u) << "distinct bits";
    seen |= bit;
  }
  EXPECT_EQ(seen, kAll);
  EXPECT_EQ(FUSEDOPT_BUILT_STORAGE, kAll) << "a file outside the optimizers sees everything built";
}

TEST(BuildOptions, WhatIsBuiltSteps) {
  EXPECT_EQ(left_out(kAll, segment(DType::f32)), "");
  EXPECT_EQ(left_out(kAll, segment(DType::bf16, true, true)), "");
  EXPECT_EQ(left_out(storage_bit<Master<BFloat16>>(), segment(DType::bf16, true)), "");
}

TEST(BuildOptions, LeftOutUnfusedImplementationsNameFusedoptUnfused) {
  for (const auto& [impl, name] : {std::pair{Impl::Loop, "Impl::Loop"},
                                   std::pair{Impl::Foreach, "Impl::Foreach"}}) {
    detail::SegmentLaunch s = segment(DType::bf16, true);
    s.impl = impl;
    std::string m;
    try {
      detail::check_built(kAll, s, "AdamW", "adam", /*unfused=*/false);
    } catch (const Error& e) {
      m = e.what();
    }
    EXPECT_NE(m.find(std::string("AdamW: ") + name + " (an unfused implementation) was left out"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("-DFUSEDOPT_UNFUSED=ON"), std::string::npos) << m;
    EXPECT_EQ(left_out(kAll, s), "") << "this build has them";
  }
  detail::SegmentLaunch fused = segment(DType::bf16, true);
  fused.impl = Impl::Fused;
  EXPECT_NO_THROW(detail::check_built(kAll, fused, "AdamW", "adam", /*unfused=*/false));
}

TEST(BuildOptions, ALeftOutOptimizerNamesFusedoptOptimizers) {
  const std::string m = left_out(0, segment(DType::f32));
  EXPECT_NE(m.find("AdamW was left out"), std::string::npos) << m;
  EXPECT_NE(m.find("-DFUSEDOPT_OPTIMIZERS including adam"), std::string::npos) << m;
}

TEST(BuildOptions, ALeftOutDtypeNamesFusedoptDtypes) {
  const std::uint32_t bf16_only = storage_bit<BFloat16>() | storage_bit<Master<BFloat16>>();
  for (const auto& [s, dtype] : {std::pair{segment(DType::f32), "f32"},
                                 std::pair{segment(DType::f16), "f16"},
                                 std::pair{segment(DType::f16, true), "f16"}}) {
    const std::string m = left_out(bf16_only, s);
    EXPECT_NE(m.find(std::string(dtype) + " parameters were left out"), std::string::npos) << m;
    EXPECT_NE(m.find("-DFUSEDOPT_DTYPES including " + std::string(dtype)), std::string::npos)
        << m;
  }
  // bf16 state of bf16 parameters that are not built at all: the dtype is what is missing.
  const std::string m = left_out(storage_bit<float>(), segment(DType::bf16, false, true));
  EXPECT_NE(m.find("-DFUSEDOPT_DTYPES including bf16"), std::string::npos) << m;
}

TEST(BuildOptions, LeftOutMasterWeightsNameFusedoptMasterWeights) {
  const std::uint32_t plain = storage_bit<float>() | storage_bit<Half>() | storage_bit<BFloat16>() |
                              storage_bit<kernels::Bf16State<BFloat16>>();
  for (const DType dtype : {DType::f16, DType::bf16}) {
    const std::string m = left_out(plain, segment(dtype, true));
    EXPECT_NE(m.find("fp32 master weights"), std::string::npos) << m;
    EXPECT_NE(m.find("-DFUSEDOPT_MASTER_WEIGHTS=ON"), std::string::npos) << m;
  }
  const std::string m = left_out(plain, segment(DType::bf16, true, true));
  EXPECT_NE(m.find("-DFUSEDOPT_MASTER_WEIGHTS=ON"), std::string::npos) << m;
}

TEST(BuildOptions, LeftOutBf16StateNamesFusedoptBf16State) {
  const std::uint32_t no_state = kAll & ~(storage_bit<kernels::Bf16State<BFloat16>>() |
                                          storage_bit<kernels::Bf16State<Master<BFloat16>>>());
  for (const bool master : {false, true}) {
    const std::string m = left_out(no_state, segment(DType::bf16, master, true));
    EXPECT_NE(m.find("bf16 state"), std::string::npos) << m;
    EXPECT_NE(m.find("-DFUSEDOPT_BF16_STATE=ON"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace fusedopt::testing
