// The optimizer API: device-scalar hyper-parameters changed between steps, option inheritance,
// add_param_group, zero_grad, per-parameter step counts; on both executors.
#include <gtest/gtest.h>

#include "reference/reference.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

class Api : public ::testing::TestWithParam<Executor> {};

TEST_P(Api, SetLrBetweenStepsChangesTheNextStep) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  GuardedTensor w(5, DType::f32, device), g(5, DType::f32, device);
  w.set({1, 2, 3, 4, 5});
  g.set({1, 1, 1, 1, 1});
  SGD opt({{w.view(), g.view()}}, SGDOptions().lr(0.5));
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{0.5, 1.5, 2.5, 3.5, 4.5}));
  opt.set_lr(0, 0.25);  // a device-scalar write, no plan rebuild
  EXPECT_EQ(opt.lr(0), 0.25);
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{0.25, 1.25, 2.25, 3.25, 4.25}));
  opt.set(0, "weight_decay", 1.0);  // g + wd * p = 1 + p
  opt.step();
  EXPECT_EQ(w.get()[0], double(0.25f - 0.25f * (1.0f + 0.25f)));
}

TEST_P(Api, GroupsInheritDefaultsLikeTorch) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  GuardedTensor w1(4, DType::f32, device), g1(4, DType::f32, device);
  GuardedTensor w2(4, DType::f32, device), g2(4, DType::f32, device);
  std::vector<Param> backbone = {{w1.view(), g1.view()}};
  std::vector<Param> head = {{w2.view(), g2.view()}};
  // The design card's snippet.
  AdamW opt({{backbone}, {head, AdamWOptions().lr(1e-2)}},
            AdamWOptions().lr(1e-3).weight_decay(0.05).betas({0.8, 0.99}));
  EXPECT_EQ(opt.lr(0), 1e-3);
  EXPECT_EQ(opt.lr(1), 1e-2);
  EXPECT_EQ(opt.options(1).weight_decay(), 0.05);  // inherited, not AdamWOptions' 1e-2
  EXPECT_EQ(opt.get(1, "beta1"), 0.8);
  EXPECT_EQ(opt.get(1, "beta2"), 0.99);
  EXPECT_EQ(AdamWOptions().weight_decay(), 1e-2);  // torch defaults
  EXPECT_EQ(AdamOptions().weight_decay(), 0.0);
  EXPECT_EQ(SGDOptions().lr(), 1e-3);
  EXPECT_EQ(std::string(opt.name()), "AdamW");
}

TEST_P(Api, AddParamGroupStartsItsOwnStepCount) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  GuardedTensor w1(3, DType::f32, device), g1(3, DType::f32, device);
  GuardedTensor w2(2, DType::bf16, device), g2(2, DType::bf16, device);
  w1.set({1, 1, 1});
  g1.set({1, 1, 1});
  w2.set({1, 1});
  g2.set({1, 1});
  Adam opt({{w1.view(), g1.view()}}, AdamOptions().lr(0.1));
  opt.step();
  opt.step();
  opt.add_param_group({{{w2.view(), g2.view()}}, AdamOptions().lr(0.5)});
  opt.step();
  EXPECT_EQ(opt.step_count(0, 0), 3.0);
  EXPECT_EQ(opt.step_count(1, 0), 1.0);
  // First Adam step moves by lr (m_hat / sqrt(v_hat) = 1 for a constant gradient).
  EXPECT_EQ(w2.get(), (std::vector<double>{0.5, 0.5}));
  EXPECT_EQ(opt.num_params(), 2u);
  EXPECT_EQ(opt.params(1).size(), 1u);
}

TEST_P(Api, ZeroGradWritesZerosEverywhereAndNothingElse) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  for (Impl impl : {Impl::Loop, Impl::Foreach, Impl::Fused}) {
  SCOPED_TRACE(to_string(impl));
  std::vector<std::unique_ptr<GuardedTensor>> tensors;
  std::vector<Param> params;
  // Aligned and misaligned, each size: the vector path with several vectors per lane (lengths
  // above 512 lanes x one vector) and the scalar path.
  for (DType dtype : {DType::f32, DType::f16, DType::bf16})
    for (std::int64_t n : {0, 1, 5, 4099, 70000})
      for (int misalign : {0, 1}) {
        tensors.push_back(std::make_unique<GuardedTensor>(n, dtype, device, misalign));
        auto& value = *tensors.back();
        tensors.push_back(std::make_unique<GuardedTensor>(n, dtype, device, misalign));
        tensors.back()->poison();
        params.push_back({value.view(), tensors.back()->view()});
      }
  SGD opt(params);
  opt.set_impl(impl);
  opt.zero_grad();
  for (std::size_t t = 1; t < tensors.size(); t += 2) {
    for (double x : tensors[t]->get()) ASSERT_EQ(x, 0.0) << "gradient " << t / 2;
    EXPECT_TRUE(tensors[t]->guards_intact()) << "gradient " << t / 2;
  }
  }
}

// Switching implementation between steps keeps state and step counts: the run matches an
// all-fused run over the same gradients.
TEST_P(Api, SwitchingImplBetweenStepsContinuesTheTrajectory) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  std::mt19937_64 rng(fresh_seed());
  const std::vector<std::int64_t> lengths = {3, 1000, 70000};
  std::vector<std::unique_ptr<GuardedTensor>> switched, fused, grads;
  std::vector<Param> switched_params, fused_params;
  for (std::int64_t n : lengths) {
    const auto values = random_values(rng, n, 1.0, DType::f32);
    for (auto* list : {&switched, &fused}) {
      list->push_back(std::make_unique<GuardedTensor>(n, DType::f32, device));
      list->back()->set(values);
    }
    grads.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device));
    switched_params.push_back({switched.back()->view(), grads.back()->view()});
    fused_params.push_back({fused.back()->view(), grads.back()->view()});
  }
  const AdamOptions options = AdamOptions().lr(1e-2).weight_decay(1.0 / 1024).amsgrad(true);
  Adam a(switched_params, options), b(fused_params, options);
  const Impl order[] = {Impl::Loop, Impl::Foreach, Impl::Fused, Impl::Loop};
  for (int step = 0; step < 8; ++step) {
    a.set_impl(order[step / 2]);
    for (auto& g : grads) g->set(random_values(rng, g->numel(), 0.5, DType::f32));
    a.step();
    b.step();
  }
  EXPECT_EQ(a.step_count(0, 2), 8.0);
  for (std::size_t t = 0; t < lengths.size(); ++t) {
    const auto x = switched[t]->get(), y = fused[t]->get();
    for (std::size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(x[i], y[i], 1e-6 * std::max(1.0, std::abs(y[i]))) << "tensor " << t << " element " << i;
    const auto sx = a.state(0, t, "max_exp_avg_sq"), sy = b.state(0, t, "max_exp_avg_sq");
    for (std::size_t i = 0; i < sx.size(); ++i) ASSERT_NEAR(sx[i], sy[i], 1e-6 * std::abs(sy[i]));
  }
}

// The byte model and launch counts follow the passes each Impl runs (kernels/engine/passes.h).
TEST_P(Api, StepCostFollowsThePasses) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  std::vector<std::unique_ptr<GuardedTensor>> tensors;
  std::vector<Param> params;
  for (std::int64_t n : {100, 200, 700}) {
    tensors.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device));
    tensors.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device));
    params.push_back({tensors[tensors.size() - 2]->view(), tensors.back()->view()});
  }
  const double n = 1000;
  SGD sgd(params, SGDOptions().lr(0.1));  // one pass: p -= lr * g
  EXPECT_EQ(sgd.step_cost().launches, 1);
  EXPECT_EQ(sgd.step_cost().bytes, n * 12);  // read p, g; write p
  sgd.set_impl(Impl::Foreach);
  EXPECT_EQ(sgd.step_cost().launches, 2);  // the pass, then the step counts
  EXPECT_EQ(sgd.step_cost().bytes, n * 12);
  sgd.set_impl(Impl::Loop);
  EXPECT_EQ(sgd.step_cost().launches, 4);  // per tensor, then the step counts

  AdamW adamw(params);  // weight_decay 1e-2: decoupled, no gradient preamble
  EXPECT_EQ(adamw.step_cost().bytes, n * (12 + 16));  // + exp_avg, exp_avg_sq read and written
  adamw.set_impl(Impl::Foreach);
  // exp_avg (12), exp_avg_sq (12), denom (8), param (16 bytes per element); + step counts.
  EXPECT_EQ(adamw.step_cost().bytes, n * 48);
  EXPECT_EQ(adamw.step_cost().launches, 5);
  adamw.set_options(0, AdamWOptions().maximize(true));  // negated as loaded, NOTE(maximize)
  EXPECT_EQ(adamw.step_cost().launches, 5);
  EXPECT_EQ(adamw.step_cost().bytes, n * 48);
  Adam adam(params, AdamOptions().weight_decay(0.1));  // L2: a preamble, g + wd * p
  adam.set_impl(Impl::Foreach);
  EXPECT_EQ(adam.step_cost().launches, 6);
  EXPECT_EQ(adam.step_cost().bytes, n * (48 + 12));  // it reads g and p, writes a temporary

  EXPECT_THROW(adamw.set_impl(static_cast<Impl>(7)), Error);
  EXPECT_EQ(adamw.impl(), Impl::Foreach);
}

TEST_P(Api, MaximizeFlagChangesWithoutRebuild) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  GuardedTensor w(2, DType::f32, device), g(2, DType::f32, device);
  w.set({0, 0});
  g.set({1, -1});
  SGD opt({{w.view(), g.view()}}, SGDOptions().lr(1));
  opt.set_options(0, SGDOptions().lr(1).maximize(true));
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{1, -1}));
  opt.set_options(0, SGDOptions().maximize(false));  // and back: descends again
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{0, 0}));
  // NOTE(maximize): a maximizing group added beside one that is not, in the same f32 segment
  // and alone in a bf16 one (the launches choose their kernels from the groups' modes).
  GuardedTensor w32(3, DType::f32, device), g32(3, DType::f32, device);
  GuardedTensor w16(3, DType::bf16, device), g16(3, DType::bf16, device);
  w32.set({0, 0, 0});
  g32.set({2, -2, 0.5});
  w16.set({0, 0, 0});
  g16.set({2, -2, 0.5});
  opt.add_param_group({{{w32.view(), g32.view()}, {w16.view(), g16.view()}},
                       SGDOptions().lr(1).maximize(true)});
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{-1, 1}));
  EXPECT_EQ(w32.get(), (std::vector<double>{2, -2, 0.5}));
  EXPECT_EQ(w16.get(), (std::vector<double>{2, -2, 0.5}));
}

std::string executor_name(const ::testing::TestParamInfo<Executor>& info) {
  return to_string(info.param);
}
/// Hyper-parameters written between steps, by set() or by a scheduler (OneCycleLR cycles beta1
/// and SGD's momentum), are the ones the next step uses: each step is checked against the double
/// reference run with the values the optimizer reports.
TEST_P(Api, SetAndScheduledHyperParametersReachTheNextStep) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr std::int64_t kN = 4099;
  constexpr int kSteps = 8;
  const auto check = [&](const std::vector<double>& got, const reference::Vec& want, int step) {
    for (std::size_t e = 0; e < got.size(); ++e)
      ASSERT_NEAR(got[e], want[e], 2e-6 * std::max(1.0, std::fabs(want[e])))
          << "step " << step << " element " << e;
  };
  for (const bool scheduled : {false, true}) {
    SCOPED_TRACE(scheduled ? "OneCycleLR" : "set()");
    {  // Adam: beta1 (cycled or set), beta2, eps, weight_decay (set)
      GuardedTensor w(kN, DType::f32, device), g(kN, DType::f32, device);
      reference::Vec p = random_values(rng, kN, 1.0, DType::f32);
      w.set(p);
      Adam opt({{w.view(), g.view()}}, AdamOptions().lr(1e-2));
      OneCycleLR sched(opt, 2e-2, kSteps);
      if (!scheduled) opt.set_lr(0, 1e-2);
      reference::AdamConfig config;
      reference::AdamState state;
      for (int step = 0; step < kSteps; ++step) {
        if (!scheduled && step == 2) {
          opt.set(0, "beta1", 0.6);
          opt.set(0, "beta2", 0.9);
          opt.set(0, "eps", 1e-3);
          opt.set(0, "weight_decay", 0.1);
        }
        config.lr = opt.lr(0);
        config.beta1 = opt.get(0, "beta1");
        config.beta2 = opt.get(0, "beta2");
        config.eps = opt.get(0, "eps");
        config.weight_decay = opt.get(0, "weight_decay");
        const reference::Vec grad = random_values(rng, kN, 0.5, DType::f32);
        g.set(grad);
        opt.step();
        reference::adam_step(config, p, grad, state);
        check(w.get(), p, step);
        if (scheduled) sched.step();
      }
    }
    {  // SGD: momentum (cycled or set), dampening (set)
      GuardedTensor w(kN, DType::f32, device), g(kN, DType::f32, device);
      reference::Vec p = random_values(rng, kN, 1.0, DType::f32);
      w.set(p);
      SGD opt({{w.view(), g.view()}}, SGDOptions().lr(1e-2).momentum(0.9));
      OneCycleLR sched(opt, 2e-2, kSteps);
      if (!scheduled) opt.set_lr(0, 1e-2);
      reference::SGDConfig config;
      reference::SGDState state;
      for (int step = 0; step < kSteps; ++step) {
        if (!scheduled && step == 2) {
          opt.set(0, "momentum", 0.5);
          opt.set(0, "dampening", 0.25);
        }
        config.lr = opt.lr(0);
        config.momentum = opt.get(0, "momentum");
        config.dampening = opt.get(0, "dampening");
        const reference::Vec grad = random_values(rng, kN, 0.5, DType::f32);
        g.set(grad);
        opt.step();
        reference::sgd_step(config, p, grad, state);
        check(w.get(), p, step);
        if (scheduled) sched.step();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Executors, Api, ::testing::ValuesIn(native_executors()), executor_name);
INSTANTIATE_TEST_SUITE_P(Emulated, Api, ::testing::Values(Executor::emulated), executor_name);

TEST(Api, CpuOptimizerIgnoresStreams) {
  GuardedTensor w(2, DType::f32, Device::cpu()), g(2, DType::f32, Device::cpu());
  SGD opt({{w.view(), g.view()}});
  EXPECT_EQ(opt.device(), Device::cpu());
  opt.set_stream(nullptr);
  opt.synchronize();
  EXPECT_EQ(opt.stream(), nullptr);
}

// set_options changes only the options the call sets; reset_options(g, overrides) is
// defaults() plus the overrides, as add_param_group resolves a group.
TEST(Api, SetOptionsKeepsWhatTheCallDoesNotSetResetOptionsRestoresDefaults) {
  GuardedTensor w(2, DType::f32, Device::cpu()), g(2, DType::f32, Device::cpu());
  AdamW opt(std::vector<AdamW::Group>{
      {{{w.view(), g.view()}}, AdamWOptions().lr(5e-3).betas({0.8, 0.999})}});
  const AdamWOptions torch_defaults;
  auto expect_options = [&](double lr, double beta1, double weight_decay) {
    EXPECT_EQ(opt.options(0).lr(), lr);
    EXPECT_EQ(opt.lr(0), lr);
    EXPECT_EQ(opt.options(0).betas().first, beta1);
    EXPECT_EQ(opt.get(0, "beta1"), beta1);
    EXPECT_EQ(opt.options(0).betas().second, torch_defaults.betas().second);
    EXPECT_EQ(opt.options(0).weight_decay(), weight_decay);
    EXPECT_EQ(opt.options(0).eps(), torch_defaults.eps());
    EXPECT_FALSE(opt.options(0).amsgrad());
    EXPECT_FALSE(opt.options(0).maximize());
  };
  opt.set_options(0, AdamWOptions().weight_decay(0));
  expect_options(5e-3, 0.8, 0.0);
  // The group still remembers lr as set explicitly (NOTE(option-inheritance)).
  const auto lr_field = std::get<0>(AdamWOptions::fields());
  EXPECT_TRUE((opt.options(0).*(lr_field.member)).is_set());

  // Rejected calls change nothing: a state-layout change, a bad value.
  EXPECT_THROW(opt.set_options(0, AdamWOptions().amsgrad(true).lr(0.5)), Error);
  expect_options(5e-3, 0.8, 0.0);
  EXPECT_THROW(opt.set_options(0, AdamWOptions().lr(-1.0)), Error);
  expect_options(5e-3, 0.8, 0.0);
  EXPECT_THROW(opt.reset_options(0, AdamWOptions().amsgrad(true)), Error);
  expect_options(5e-3, 0.8, 0.0);
  EXPECT_THROW(opt.reset_options(1), Error);

  opt.reset_options(0);
  expect_options(torch_defaults.lr(), torch_defaults.betas().first, torch_defaults.weight_decay());
  EXPECT_FALSE((opt.options(0).*(lr_field.member)).is_set());
  opt.set_options(0, AdamWOptions().lr(5e-3).betas({0.8, 0.99}));
  opt.reset_options(0, AdamWOptions().lr(0.1));
  expect_options(0.1, torch_defaults.betas().first, torch_defaults.weight_decay());
}

}  // namespace
}  // namespace fusedopt::testing
