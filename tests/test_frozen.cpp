// NOTE(frozen): a disabled parameter is skipped as torch skips a parameter whose grad is None.
// Checked bitwise against optimizers that never hold the skipped steps: the parameter that was
// frozen for some steps must equal a copy stepped only on the other steps (value, every state
// tensor, step count), and the parameters around it must equal copies that were never frozen.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

constexpr std::int64_t kSizes[] = {5, 4099, 1000};
constexpr int kSteps = 8;
bool frozen_at(int step) { return step >= 2 && step <= 4; }  // parameter 1 skips steps 2..4

struct Tensors {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  Tensors(const std::vector<std::int64_t>& sizes, DType dtype, Device device, std::mt19937_64& rng) {
    for (std::int64_t n : sizes) {
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

class Frozen : public ::testing::TestWithParam<std::tuple<Executor, Impl, DType>> {};

TEST_P(Frozen, SkippedParametersKeepEverythingAndResumeAsIfNeverStepped) {
  const auto [executor, impl, dtype] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  for (const OptimizerCase& c : all_optimizer_cases()) {
    SCOPED_TRACE(c.name);
    std::mt19937_64 rng(fresh_seed());
    // `all` holds the three parameters; `alone` a copy of parameter 1, stepped only when it is
    // enabled in `all`; `others` copies of parameters 0 and 2, never frozen.
    Tensors all({kSizes[0], kSizes[1], kSizes[2]}, dtype, device, rng);
    Tensors others({kSizes[0], kSizes[1], kSizes[2]}, dtype, device, rng);
    Tensors alone({kSizes[1]}, dtype, device, rng);
    for (std::size_t t = 0; t < 3; ++t) others.values[t]->set(all.values[t]->get());
    alone.values[0]->set(all.values[1]->get());
    const std::unique_ptr<Optimizer> a = c.make(all.params());
    const std::unique_ptr<Optimizer> b = c.make(alone.params());
    const std::unique_ptr<Optimizer> o = c.make({others.params()[0], others.params()[2]});
    for (Optimizer* opt : {a.get(), b.get(), o.get()}) opt->set_impl(impl);
    for (int step = 0; step < kSteps; ++step) {
      std::vector<std::vector<double>> grads;
      for (std::int64_t n : kSizes) grads.push_back(random_values(rng, n, 0.5, dtype));
      for (std::size_t t = 0; t < 3; ++t) all.grads[t]->set(grads[t]);
      others.grads[0]->set(grads[0]);
      others.grads[2]->set(grads[2]);
      alone.grads[0]->set(grads[1]);
      a->set_param_enabled(0, 1, !frozen_at(step));
      EXPECT_EQ(a->param_enabled(0, 1), !frozen_at(step));
      const Snapshot before = snapshot(*a, *all.values[1], 1);
      a->step();
      o->step();
      if (frozen_at(step)) {
        EXPECT_EQ(snapshot(*a, *all.values[1], 1), before) << "step " << step << ": it changed";
      } else {
        b->step();
      }
    }
    EXPECT_EQ(snapshot(*a, *all.values[1], 1), snapshot(*b, *alone.values[0], 0));
    EXPECT_EQ(a->step_count(0, 1), double(kSteps - 3));
    EXPECT_EQ(snapshot(*a, *all.values[0], 0), snapshot(*o, *others.values[0], 0));
    EXPECT_EQ(snapshot(*a, *all.values[2], 2), snapshot(*o, *others.values[2], 1));
    for (const auto& t : all.values) EXPECT_TRUE(t->guards_intact());
  }
}

std::string frozen_name(const ::testing::TestParamInfo<Frozen::ParamType>& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" + to_string(std::get<1>(info.param)) +
         "_" + to_string(std::get<2>(info.param));
}
INSTANTIATE_TEST_SUITE_P(Executors, Frozen,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::Values(Impl::Loop, Impl::Foreach, Impl::Fused),
                                            ::testing::Values(DType::f32, DType::bf16)),
                         frozen_name);
INSTANTIATE_TEST_SUITE_P(Emulated, Frozen,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::Values(Impl::Foreach, Impl::Fused),
                                            ::testing::Values(DType::f16)),
                         frozen_name);

TEST(FrozenMask, DeviceWritesAddParamGroupAndErrors) {
  GuardedTensor w(4, DType::f32, Device::cpu()), gw(4, DType::f32, Device::cpu());
  GuardedTensor b(3, DType::f32, Device::cpu()), gb(3, DType::f32, Device::cpu());
  w.set({1, 2, 3, 4});
  gw.set({1, 1, 1, 1});
  b.set({1, 1, 1});
  gb.set({1, 1, 1});
  SGD opt({{w.view(), gw.view()}}, SGDOptions().lr(0.5));
  // The mask is device memory an engine may write itself (here: CPU memory).
  opt.param_enabled_mask()[0] = 0;
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(opt.step_count(0, 0), 0.0);
  EXPECT_FALSE(opt.param_enabled(0, 0));
  // add_param_group keeps the existing flags (written on the device) and enables new ones.
  opt.add_param_group({{{b.view(), gb.view()}}, std::nullopt});
  EXPECT_FALSE(opt.param_enabled(0, 0));
  EXPECT_TRUE(opt.param_enabled(1, 0));
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(b.get(), (std::vector<double>{0.5, 0.5, 0.5}));
  opt.set_param_enabled(0, 0, true);
  opt.step();
  EXPECT_EQ(w.get(), (std::vector<double>{0.5, 1.5, 2.5, 3.5}));
  EXPECT_EQ(opt.step_count(0, 0), 1.0);
  EXPECT_EQ(opt.step_count(1, 0), 2.0);
  EXPECT_THROW(opt.set_param_enabled(0, 1, false), Error);
  EXPECT_THROW(opt.set_param_enabled(2, 0, false), Error);
  EXPECT_THROW(opt.param_enabled(0, 7), Error);
  // A disabled parameter has no state in state_dict() until it steps, as in torch.
  SGD fresh({{w.view(), gw.view()}, {b.view(), gb.view()}}, SGDOptions().lr(0.5).momentum(0.9));
  fresh.set_param_enabled(0, 1, false);
  fresh.step();
  const StateDict sd = fresh.state_dict();
  EXPECT_EQ(sd.state.count(0), 1u);
  EXPECT_EQ(sd.state.count(1), 0u);
}

}  // namespace
}  // namespace fusedopt::testing
