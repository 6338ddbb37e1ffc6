// What a torch user does with the C++ API that used to surprise (issue "fusedopt for PyTorch"):
// a GradList built every iteration, a default GradScaler without CUDA, a found_inf preset by the
// engine, error_if_nonfinite for the in-step clip, the fp32 master read by its state name.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

struct Tensors {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<Param> params;
  Tensors(DType dtype, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (std::int64_t n : {7, 300}) {
      values.push_back(std::make_unique<GuardedTensor>(n, dtype, Device::cpu()));
      grads.push_back(std::make_unique<GuardedTensor>(n, dtype, Device::cpu()));
      values.back()->set(random_values(rng, n, 1.0, dtype));
      grads.back()->set(random_values(rng, n, 0.5, dtype));
      params.push_back({values.back()->view(), grads.back()->view()});
    }
  }
  std::vector<std::vector<double>> get() const {
    std::vector<std::vector<double>> out;
    for (const auto& v : values) out.push_back(v->get());
    return out;
  }
};

/// torch's scaler.step(opt) translated as a GradList built each iteration: the flag of a list
/// that no longer exists is reused after update(), so iteration 33 and later work; 33 lists
/// alive at once are still refused, naming the limit.
TEST(GradScalerLists, AListBuiltEveryIterationReusesItsFlag) {
  Tensors t(DType::f32, 1);
  AdamW opt(t.params, AdamWOptions().lr(1e-3));
  GradScaler scaler(Device::cpu(), GradScalerOptions().init_scale(4.0));
  for (int it = 0; it < 40; ++it) {
    GradList grads(opt);
    scaler.step(opt, grads);
    scaler.update();
  }
  EXPECT_EQ(opt.step_count(0, 0), 40.0);
  std::vector<std::unique_ptr<GradList>> alive;
  for (int k = 0; k < 32; ++k) {
    alive.push_back(std::make_unique<GradList>(opt));
    scaler.check(*alive.back());
  }
  GradList one_more(opt);
  try {
    scaler.check(one_more);
    ADD_FAILURE() << "a 33rd list alive at once was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 32 that exist at once"), std::string::npos)
        << e.what();
  }
  // A list destroyed after its check keeps its flag until update(): no reuse before it.
  alive.pop_back();
  EXPECT_THROW(scaler.check(one_more), Error);
  scaler.update();
  EXPECT_NO_THROW(scaler.check(one_more));
}

/// torch.amp.GradScaler("cuda") without CUDA warns and disables itself; so does fusedopt's
/// default scaler (cuda:0), which lives on the CPU then and steps without scaling.
TEST(GradScalerDefault, WithoutCudaIsDisabledAsTorchIs) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is visible: the default scaler is enabled";
  Tensors t(DType::f32, 2), twin(DType::f32, 2);
  AdamW opt(t.params), plain(twin.params);
  GradScaler scaler;
  EXPECT_FALSE(scaler.is_enabled());
  EXPECT_TRUE(scaler.device().is_cpu());
  EXPECT_EQ(*scaler.scale(), 1.0f);
  EXPECT_EQ(scaler.get_scale(), 1.0);
  GradList grads(opt);
  scaler.unscale(grads);
  scaler.step(opt, grads);
  scaler.update();
  plain.step();
  EXPECT_EQ(t.get(), twin.get());
  EXPECT_EQ(scaler.state_dict(), std::nullopt);
}

/// An overflow the engine found itself (its own all-reduce of found_inf): preset, the step is
/// skipped and update() backs off; written through the pointer, the same.
TEST(GradScalerFoundInf, PresetSkipsTheStepAndBacksOff) {
  Tensors t(DType::f32, 3);
  AdamW opt(t.params);
  GradScaler scaler(Device::cpu(), GradScalerOptions().init_scale(8.0));
  GradList grads(opt);
  const auto before = t.get();
  scaler.set_found_inf(grads, true);
  scaler.step(opt, grads);
  scaler.update();
  EXPECT_EQ(t.get(), before);
  EXPECT_EQ(opt.step_count(0, 0), 0.0);
  EXPECT_EQ(scaler.get_scale(), 4.0);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  *scaler.found_inf(grads) = 1.0f;  // host memory: the CPU scaler's flag
  scaler.step(opt, grads);
  scaler.update();
  EXPECT_EQ(t.get(), before);
  EXPECT_EQ(scaler.get_scale(), 2.0);
  scaler.step(opt, grads);  // cleared by update(): steps
  scaler.update();
  EXPECT_NE(t.get(), before);
  EXPECT_EQ(opt.step_count(0, 0), 1.0);
}

/// torch's clip_grad_norm_(..., error_if_nonfinite=True) for the in-step clip: a non-finite norm
/// throws before the step changes anything; finite gradients step as without the flag.
TEST(ClipErrorIfNonfinite, ThrowsBeforeTheStepChangesAnything) {
  Tensors t(DType::f32, 4), twin(DType::f32, 4);
  AdamW opt(t.params), plain(twin.params);
  opt.set_grad_clipping(0.5, 2.0, /*error_if_nonfinite=*/true);
  plain.set_grad_clipping(0.5, 2.0);
  EXPECT_TRUE(opt.grad_clip_error_if_nonfinite());
  opt.step();
  plain.step();
  EXPECT_EQ(t.get(), twin.get());
  std::vector<double> g = t.grads[1]->get();
  for (const double bad : {double(INFINITY), std::nan("")}) {
    g[17] = bad;
    t.grads[1]->set(g);
    const auto values = t.get();
    const StateDict state = opt.state_dict();
    try {
      opt.step();
      ADD_FAILURE() << "a non-finite norm stepped";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
    }
    EXPECT_EQ(t.get(), values);
    EXPECT_EQ(difference(opt.state_dict(), state), "");
  }
  // Saved with the other settings (NOTE(step-settings)).
  ASSERT_TRUE(opt.state_dict().settings.has_value());
  EXPECT_TRUE(opt.state_dict().settings->error_if_nonfinite);
  AdamW fresh(twin.params);
  fresh.load_state_dict(opt.state_dict());
  EXPECT_TRUE(fresh.grad_clip_error_if_nonfinite());
}

/// NOTE(master-weights): the fp32 master is read by the name a checkpoint saves it under.
TEST(MasterParamState, ReadsTheFp32Master) {
  Tensors t(DType::bf16, 5);
  AdamW opt(t.params);
  Precision p;
  p.master_weights = true;
  opt.set_precision(p);
  opt.step();
  const StateDict state = opt.state_dict();
  EXPECT_EQ(opt.state(0, 1, "master_param"), state.state.at(1).tensors.at("master_param"));
  Tensors f32_tensors(DType::f32, 5);
  AdamW f32(f32_tensors.params);
  try {
    f32.state(0, 0, "master_param");
    ADD_FAILURE() << "an f32 parameter has no master";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exp_avg"), std::string::npos) << e.what();
  }
  try {
    opt.state(0, 0, "nope");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("master_param"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fusedopt::testing
