// NOTE(clip): clipping by the global gradient norm inside the step equals torch's
// clip_grad_norm_ then step(): checked against an optimizer whose gradients the standalone
// clip_grad_norm clipped first (bitwise for f32 gradients, where both round g * coef once;
// for f16/bf16, whose clipped copies are rounded to the dtype, within one step between dtype
// values plus a tenth of the update, but for a few elements whose sign-like update a rounding
// flips; every learning rate moves a parameter near 1 by more than half a bf16 ulp).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fusedopt/grad_utils.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

using Factory = std::function<std::unique_ptr<Optimizer>(const std::vector<Param>&)>;

template <class Options>
Factory factory(Options options) {
  return [options](const std::vector<Param>& params) {
    return std::unique_ptr<Optimizer>(std::make_unique<FusedOptimizer<Options>>(params, options));
  };
}

std::vector<std::pair<std::string, Factory>> cases() {
  return {{"SGD_momentum", factory(SGDOptions().lr(0.1).momentum(0.9))},
          {"AdamW", factory(AdamWOptions().lr(1e-2))},
          {"Adam_amsgrad", factory(AdamOptions().lr(1e-2).amsgrad(true))},
          {"RMSprop", factory(RMSpropOptions().lr(1e-2).centered(true))},
          {"Adagrad", factory(AdagradOptions().lr(0.1))},
          {"Lion", factory(LionOptions().lr(1e-2))}};
}

constexpr std::int64_t kSizes[] = {5, 4099, 70000};

struct Model {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  Model(DType dtype, Device device, std::mt19937_64& rng) {
    for (std::int64_t n : kSizes) {
      values.push_back(std::make_unique<GuardedTensor>(n, dtype, device, n % 2));
      grads.push_back(std::make_unique<GuardedTensor>(n, dtype, device));
      values.back()->set(random_values(rng, n, 1.0, dtype));
    }
  }
  std::vector<Param> params() const {
    std::vector<Param> out;
    for (std::size_t i = 0; i < values.size(); ++i) out.push_back({values[i]->view(), grads[i]->view()});
    return out;
  }
};

/// grad_scale = `scale` and found_inf = 0, two floats in `device` memory.
std::unique_ptr<DeviceBytes> amp_scalars(double scale, Device device) {
  auto scalars = std::make_unique<DeviceBytes>(2 * sizeof(float), device);
  const float host[2] = {float(scale), 0.0f};
  std::vector<unsigned char> bytes(sizeof host);
  std::memcpy(bytes.data(), host, sizeof host);
  scalars->upload(bytes);
  return scalars;
}

class ClipInStep : public ::testing::TestWithParam<std::tuple<Executor, Impl, DType, bool>> {};

TEST_P(ClipInStep, EqualsClipGradNormThenStep) {
  const auto [executor, impl, dtype, amp] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  // A power-of-two loss scale keeps the scaled gradients and their norm exact.
  constexpr double kScale = 1024.0;
  const auto scalars = amp_scalars(kScale, device);
  const auto* grad_scale = reinterpret_cast<const float*>(scalars->data());
  const auto* found_inf = grad_scale + 1;
  for (const auto& [name, make] : cases()) {
    SCOPED_TRACE(name);
    std::mt19937_64 rng(fresh_seed());
    Model a(dtype, device, rng), b(dtype, device, rng);
    for (std::size_t t = 0; t < a.values.size(); ++t) b.values[t]->set(a.values[t]->get());
    const std::unique_ptr<Optimizer> in_step = make(a.params());
    const std::unique_ptr<Optimizer> separate = make(b.params());
    in_step->set_impl(impl);
    separate->set_impl(impl);
    constexpr double kMaxNorm = 5.0;  // the gradients' norm is about 0.5 * sqrt(74104) = 136
    in_step->set_grad_clipping(kMaxNorm);
    if (amp) in_step->set_grad_scaling(grad_scale, found_inf);
    GradList b_grads(*separate);
    // f16/bf16: elements that have differed beyond a rounding step (a flipped or zeroed update,
    // below) leave the check: from then on the two paths' values are their own (as
    // NOTE(storage-divergence) in test_trajectories.cpp), and a second flip would add up.
    std::vector<std::vector<char>> departed(a.values.size());
    for (std::size_t t = 0; t < a.values.size(); ++t) departed[t].assign(kSizes[t], 0);
    for (int step = 0; step < 4; ++step) {
      // Step 2's gradients are small: the coefficient is 1 and nothing is clipped.
      const double scale = step == 2 ? 1e-3 : 0.5;
      for (std::size_t t = 0; t < a.grads.size(); ++t) {
        const std::vector<double> g = random_values(rng, kSizes[t], scale, dtype);
        std::vector<double> stored = g;
        if (amp)
          for (double& x : stored) x *= kScale;
        a.grads[t]->set(stored);
        b.grads[t]->set(g);
      }
      const std::vector<std::vector<double>> a_grads = [&] {
        std::vector<std::vector<double>> out;
        for (const auto& g : a.grads) out.push_back(g->get());
        return out;
      }();
      std::vector<std::vector<double>> b_before;
      for (const auto& v : b.values) b_before.push_back(v->get());
      in_step->step();
      const float* norm = clip_grad_norm(b_grads, kMaxNorm);
      separate->step();
      const float expected_norm = read_scalar(norm, device);
      EXPECT_EQ(read_scalar(in_step->grad_norm(), device), expected_norm)
          << "step " << step;
      for (std::size_t t = 0; t < a.grads.size(); ++t)
        EXPECT_EQ(a.grads[t]->get(), a_grads[t]) << "the step wrote the gradient memory";
      for (std::size_t t = 0; t < a.values.size(); ++t) {
        const std::vector<double> got = a.values[t]->get(), want = b.values[t]->get();
        if (dtype == DType::f32) {
          EXPECT_EQ(got, want) << "tensor " << t << ", step " << step;
          continue;
        }
        // f16/bf16: the separate path rounds the clipped gradient to the dtype first, which
        // may move a result by a rounding step of the parameter or by a share of the update.
        double max_update = 0;
        for (std::size_t i = 0; i < want.size(); ++i)
          max_update = std::max(max_update, std::abs(want[i] - b_before[t][i]));
        // Where the update is close to a sign (Lion always; Adam, RMSprop, Adagrad on their
        // first steps) and the clipped gradient is tiny, rounding it to the dtype may flip or
        // zero it: a few elements (at most 1 in 500) may then differ by up to two updates.
        std::size_t flipped = 0;
        for (std::size_t i = 0; i < got.size(); ++i) {
          if (departed[t][i]) continue;
          // One step between neighbouring dtype values at the result (not a relative bound:
          // 2 ulps of |p| ~ 1 would be more than a whole Adam step).
          const double diff = std::abs(got[i] - want[i]), rounding = ulp(dtype, want[i]);
          if (diff <= rounding + 0.1 * max_update) continue;
          ++flipped;
          departed[t][i] = 1;
          ASSERT_LE(diff, rounding + 2 * max_update) << "tensor " << t << "[" << i << "], step " << step;
        }
        EXPECT_LE(flipped, (name == "Lion" ? got.size() / 20 : got.size() / 500) + 1)
            << "tensor " << t << ", step " << step;
      }
    }
    for (const auto& t : a.values) EXPECT_TRUE(t->guards_intact());
  }
}

std::string clip_name(const ::testing::TestParamInfo<ClipInStep::ParamType>& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" + to_string(std::get<1>(info.param)) +
         "_" + to_string(std::get<2>(info.param)) + (std::get<3>(info.param) ? "_amp" : "");
}
INSTANTIATE_TEST_SUITE_P(Executors, ClipInStep,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::Values(Impl::Loop, Impl::Foreach, Impl::Fused),
                                            ::testing::Values(DType::f32, DType::bf16),
                                            ::testing::Bool()),
                         clip_name);
INSTANTIATE_TEST_SUITE_P(Emulated, ClipInStep,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::Values(Impl::Foreach, Impl::Fused),
                                            ::testing::Values(DType::f32, DType::f16),
                                            ::testing::Bool()),
                         clip_name);

// Under a loss scale that is not a power of two, grad_norm() is the norm of the unscaled
// gradients (torch's clip_grad_norm_ after unscale_): the stored norm divided by the scale in
// float, within float rounding of the exact norm, and the clip uses that norm.
class ClipUnderLossScale : public ::testing::TestWithParam<Executor> {};

TEST_P(ClipUnderLossScale, GradNormIsUnscaled) {
  const Executor executor = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  std::mt19937_64 rng(fresh_seed());
  for (const double scale : {1000.0, 3.0e4 + 7}) {
    SCOPED_TRACE("loss scale " + std::to_string(scale));
    Model a(DType::f32, device, rng);
    const auto scalars = amp_scalars(scale, device);
    const auto* grad_scale = reinterpret_cast<const float*>(scalars->data());
    SGD opt(a.params(), SGDOptions().lr(0.1));
    constexpr double kMaxNorm = 5.0;
    opt.set_grad_clipping(kMaxNorm);
    opt.set_grad_scaling(grad_scale, grad_scale + 1);
    GradList stored_list(opt);
    for (int step = 0; step < 2; ++step) {
      double sum = 0;
      std::vector<std::vector<double>> unscaled, before;
      for (std::size_t t = 0; t < a.grads.size(); ++t) {
        std::vector<double> g = random_values(rng, kSizes[t], 0.5, DType::f32);
        for (double& x : g) x = double(float(x * scale));
        a.grads[t]->set(g);
        for (double& x : g) {
          x /= scale;
          sum += x * x;
        }
        unscaled.push_back(g);
        before.push_back(a.values[t]->get());
      }
      opt.step();
      const float got = read_scalar(opt.grad_norm(), device);
      const float stored = read_scalar(get_total_norm(stored_list), device);
      EXPECT_EQ(got, stored / float(scale)) << "step " << step;
      const double exact = std::sqrt(sum);
      EXPECT_NEAR(got, exact, 4e-6 * exact) << "step " << step;
      const double coef = std::min(1.0, kMaxNorm / (double(got) + 1e-6));
      for (std::size_t t = 0; t < a.values.size(); ++t) {
        const std::vector<double> value = a.values[t]->get();
        for (std::size_t i = 0; i < value.size(); ++i) {
          const double want = before[t][i] - 0.1 * coef * unscaled[t][i];
          ASSERT_NEAR(value[i], want, 2e-7 * std::abs(before[t][i]) + 1e-6 * std::abs(want - before[t][i]))
              << "tensor " << t << "[" << i << "], step " << step;
        }
      }
    }
  }
}
INSTANTIATE_TEST_SUITE_P(Executors, ClipUnderLossScale, ::testing::ValuesIn(native_executors()),
                         [](const auto& info) { return std::string(to_string(info.param)); });
INSTANTIATE_TEST_SUITE_P(Emulated, ClipUnderLossScale, ::testing::Values(Executor::emulated),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(ClipInStepApi, ErrorsOffAndAddParamGroup) {
  GuardedTensor w(4, DType::f32, Device::cpu()), gw(4, DType::f32, Device::cpu());
  GuardedTensor b(3, DType::f32, Device::cpu()), gb(3, DType::f32, Device::cpu());
  w.set({1, 1, 1, 1});
  gw.set({3, 0, 0, 0});
  b.set({1, 1, 1});
  gb.set({0, 4, 0});
  SGD opt({{w.view(), gw.view()}}, SGDOptions().lr(1.0));
  EXPECT_THROW(opt.set_grad_clipping(-1.0), Error);
  EXPECT_THROW(opt.set_grad_clipping(std::nan("")), Error);
  EXPECT_THROW(opt.set_grad_clipping(1.0, 0.0), Error);
  EXPECT_FALSE(opt.max_grad_norm());
  EXPECT_EQ(opt.grad_norm(), nullptr);
  const StepCost plain = opt.step_cost();
  opt.set_grad_clipping(1.0);
  // The norm reads the 4 f32 gradients once more, in two launches (the f32 chunks, the total).
  EXPECT_EQ(opt.step_cost().bytes, plain.bytes + 16);
  EXPECT_EQ(opt.step_cost().launches, plain.launches + 2);
  EXPECT_EQ(opt.max_grad_norm(), 1.0);
  // The norm covers a group added later: |(3, 0, 0, 0, 0, 4, 0)| = 5.
  opt.add_param_group({{{b.view(), gb.view()}}, std::nullopt});
  opt.step();
  EXPECT_EQ(*opt.grad_norm(), 5.0f);
  const float coef = 1.0f / (5.0f + 1e-6f) * 1.0f;
  EXPECT_EQ(w.get()[0], double(1.0f - 3.0f * coef));
  EXPECT_EQ(b.get()[1], double(1.0f - 4.0f * coef));
  // Off again: plain steps.
  opt.set_grad_clipping(std::nullopt);
  EXPECT_EQ(opt.grad_norm(), nullptr);
  const double before = w.get()[0];
  opt.step();
  EXPECT_EQ(w.get()[0], before - 3.0);
}

}  // namespace
}  // namespace fusedopt::testing
