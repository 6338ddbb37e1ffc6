// A build with FUSEDOPT_OPTIMIZERS=adam, FUSEDOPT_DTYPES=bf16, FUSEDOPT_BF16_STATE=OFF,
// FUSEDOPT_UNFUSED=OFF and no emulated device (CMakeLists.txt beside this file): what it
// compiled steps; what it left out throws fusedopt::Error naming the configure option, before
// anything changes.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fusedopt/fusedopt.hpp>

#include "host/engine/emulated_device.hpp"

namespace fo = fusedopt;

namespace {

std::uint16_t bf16_bits(float f) {  // exact for the values below
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return std::uint16_t(u >> 16);
}

/// Parameters and gradients of one dtype in host memory.
struct Tensors {
  explicit Tensors(fo::DType dtype) : dtype(dtype) {
    for (int i = 0; i < 4; ++i) {
      f32_value.push_back(1.0f + float(i));
      f32_grad.push_back(0.5f);
      bf16_value.push_back(bf16_bits(1.0f + float(i)));
      bf16_grad.push_back(bf16_bits(0.5f));
    }
  }
  fo::Param param() {
    const bool bf16 = dtype == fo::DType::bf16;
    void* value = bf16 ? static_cast<void*>(bf16_value.data()) : f32_value.data();
    void* grad = bf16 ? static_cast<void*>(bf16_grad.data()) : f32_grad.data();
    return {fo::TensorView{value, 4, dtype, fo::Device::cpu()},
            fo::TensorView{grad, 4, dtype, fo::Device::cpu()}};
  }
  bool unchanged() const {
    for (int i = 0; i < 4; ++i)
      if (f32_value[i] != 1.0f + float(i) || bf16_value[i] != bf16_bits(1.0f + float(i)))
        return false;
    return true;
  }
  fo::DType dtype;
  std::vector<float> f32_value, f32_grad;
  std::vector<std::uint16_t> bf16_value, bf16_grad;
};

void expect_left_out(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no fusedopt::Error; expected one naming " << needle;
  } catch (const fo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(LeftOut, WhatTheEngineUsesSteps) {
  Tensors t(fo::DType::bf16);
  fo::AdamW opt({t.param()}, fo::AdamWOptions().lr(0.25));
  opt.set_precision(fo::Precision{/*master_weights=*/true});
  opt.step();
  EXPECT_FALSE(t.unchanged());
  EXPECT_EQ(opt.step_count(0, 0), 1.0);
  Tensors plain(fo::DType::bf16);  // bf16 without master weights is in FUSEDOPT_DTYPES too
  fo::Adam adam({plain.param()}, fo::AdamOptions().lr(0.25));
  adam.step();
  EXPECT_FALSE(plain.unchanged());
}

TEST(LeftOut, AnotherDtypeNamesFusedoptDtypes) {
  Tensors t(fo::DType::f32);
  fo::AdamW opt({t.param()});
  expect_left_out([&] { opt.step(); }, "-DFUSEDOPT_DTYPES including f32");
  EXPECT_TRUE(t.unchanged());
  EXPECT_EQ(opt.step_count(0, 0), 0.0);
}

TEST(LeftOut, Bf16StateNamesFusedoptBf16State) {
  Tensors t(fo::DType::bf16);
  fo::AdamW opt({t.param()});
  fo::Precision precision;
  precision.master_weights = true;
  precision.state_dtype = fo::DType::bf16;
  opt.set_precision(precision);
  expect_left_out([&] { opt.step(); }, "-DFUSEDOPT_BF16_STATE=ON");
  EXPECT_TRUE(t.unchanged());
  EXPECT_EQ(opt.step_count(0, 0), 0.0);
}

TEST(LeftOut, TheUnfusedImplementationsNameFusedoptUnfused) {
  for (const fo::Impl impl : {fo::Impl::Loop, fo::Impl::Foreach}) {
    Tensors t(fo::DType::bf16);
    fo::AdamW opt({t.param()}, fo::AdamWOptions().lr(0.25));
    opt.set_impl(impl);
    expect_left_out([&] { opt.step(); }, "-DFUSEDOPT_UNFUSED=ON");
    EXPECT_TRUE(t.unchanged());
    EXPECT_EQ(opt.step_count(0, 0), 0.0);
    opt.set_impl(fo::Impl::Fused);  // the same optimizer steps fused
    opt.step();
    EXPECT_FALSE(t.unchanged());
  }
}

TEST(LeftOut, AnotherOptimizerNamesFusedoptOptimizers) {
  Tensors t(fo::DType::bf16);
  fo::SGD sgd({t.param()}, fo::SGDOptions().lr(0.1));
  expect_left_out([&] { sgd.step(); }, "-DFUSEDOPT_OPTIMIZERS including sgd");
  fo::AdamWScheduleFree sf({t.param()});
  expect_left_out([&] { sf.train(); }, "-DFUSEDOPT_OPTIMIZERS including schedule_free");
  expect_left_out([&] { sf.step(); }, "-DFUSEDOPT_OPTIMIZERS including schedule_free");
  fo::AveragedModel averaged(std::vector<fo::Param>{t.param()});
  expect_left_out([&] { averaged.update(); }, "-DFUSEDOPT_OPTIMIZERS including averaging");
  EXPECT_TRUE(t.unchanged());
}

TEST(LeftOut, TheEmulatedDeviceNamesFusedoptEmulatedDevice) {
  expect_left_out([] { fo::detail::set_emulated_device(true); },
                  "-DFUSEDOPT_EMULATED_DEVICE=ON");
  EXPECT_FALSE(fo::detail::emulated_device());
}

}  // namespace
