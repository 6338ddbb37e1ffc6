// NOTE(rebind): parameters whose memory moves are rebound, and the run is the run that never
// moved. Checked bitwise: every optimizer steps a model whose gradients are reallocated at every
// step (as LibTorch's zero_grad() frees them) and whose values move twice (as torch::load into
// a live model), against a twin whose memory never moves. The memory left behind is filled
// with other values, so a step that still read it would differ, and is checked to stay
// unwritten.
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
constexpr int kSteps = 6;

struct Model {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  Model(DType dtype, Device device) {
    for (std::int64_t n : kSizes) {
      values.push_back(std::make_unique<GuardedTensor>(n, dtype, device, int(n % 2)));
      grads.push_back(std::make_unique<GuardedTensor>(n, dtype, device));
    }
  }
  std::vector<Param> params() const {
    std::vector<Param> out;
    for (std::size_t i = 0; i < values.size(); ++i)
      out.push_back({values[i]->view(), grads[i]->view()});
    return out;
  }
};

/// Moves each tensor of `tensors` to new memory holding the same values; the old memory, kept
/// in `left` so that its addresses stay unused, is filled with `garbage`.
void move_all(std::vector<std::unique_ptr<GuardedTensor>>& tensors,
              std::vector<std::unique_ptr<GuardedTensor>>& left, double garbage, Device device) {
  for (auto& t : tensors) {
    auto moved = std::make_unique<GuardedTensor>(t->numel(), t->dtype(), device);
    moved->set(t->get());
    t->set(std::vector<double>(std::size_t(t->numel()), garbage));
    left.push_back(std::move(t));
    t = std::move(moved);
  }
}

class Rebind : public ::testing::TestWithParam<std::tuple<Executor, Impl, DType, bool>> {};

TEST_P(Rebind, MovedMemoryStepsAsIfItNeverMoved) {
  const auto [executor, impl, dtype, clip_and_master] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  for (const OptimizerCase& c : all_optimizer_cases()) {
    SCOPED_TRACE(c.name);
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Model fixed(dtype, device), moving(dtype, device);
    for (std::size_t t = 0; t < fixed.values.size(); ++t) {
      fixed.values[t]->set(random_values(rng, kSizes[t], 1.0, dtype));
      moving.values[t]->set(fixed.values[t]->get());
    }
    const std::unique_ptr<Optimizer> a = c.make(fixed.params());
    const std::unique_ptr<Optimizer> b = c.make(moving.params());
    for (Optimizer* opt : {a.get(), b.get()}) {
      opt->set_impl(impl);
      if (clip_and_master) {  // the norm's list and the masters follow the moves too
        opt->set_grad_clipping(0.5);
        if (dtype != DType::f32) opt->set_precision(Precision{true, false, 0});
      }
    }
    std::vector<std::unique_ptr<GuardedTensor>> left_values, left_grads;
    for (int step = 0; step < kSteps; ++step) {
      // The engine frees every gradient and the next backward allocates new ones.
      move_all(moving.grads, left_grads, 1000.0, device);
      if (step == 2) {  // weights loaded into new storage, then the whole group rebound
        move_all(moving.values, left_values, -7.0, device);
        b->rebind(0, moving.params());
      } else if (step == 4) {  // one parameter moved, rebound alone
        move_all(moving.values, left_values, -7.0, device);
        for (std::size_t i = 0; i < moving.values.size(); ++i)
          b->rebind(0, i, moving.params()[i]);
      } else {
        b->rebind({moving.params()});
      }
      for (std::size_t t = 0; t < fixed.grads.size(); ++t) {
        fixed.grads[t]->set(random_values(rng, kSizes[t], 0.5, dtype));
        moving.grads[t]->set(fixed.grads[t]->get());
      }
      a->step();
      b->step();
      if (clip_and_master) {
        ASSERT_NE(b->grad_norm(), nullptr);
        EXPECT_EQ(read_scalar(b->grad_norm(), device), read_scalar(a->grad_norm(), device))
            << "step " << step;
      }
    }
    for (std::size_t t = 0; t < fixed.values.size(); ++t)
      EXPECT_EQ(snapshot(*b, *moving.values[t], t), snapshot(*a, *fixed.values[t], t))
          << "parameter " << t;
    b->zero_grad();  // into the gradients bound last
    for (const auto& g : moving.grads)
      EXPECT_EQ(g->get(), std::vector<double>(std::size_t(g->numel()), 0.0));
    for (const auto& t : left_values)
      EXPECT_EQ(t->get(), std::vector<double>(std::size_t(t->numel()), -7.0));
    for (const auto& t : left_grads)
      EXPECT_EQ(t->get(), std::vector<double>(std::size_t(t->numel()), 1000.0));
    for (const auto& t : moving.values) EXPECT_TRUE(t->guards_intact());
  }
}

std::string rebind_name(const ::testing::TestParamInfo<Rebind::ParamType>& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" +
         to_string(std::get<1>(info.param)) + "_" + to_string(std::get<2>(info.param)) +
         (std::get<3>(info.param) ? "_clip_master" : "");
}
INSTANTIATE_TEST_SUITE_P(Executors, Rebind,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::Values(Impl::Loop, Impl::Fused),
                                            ::testing::Values(DType::f32, DType::bf16),
                                            ::testing::Bool()),
                         rebind_name);
INSTANTIATE_TEST_SUITE_P(Emulated, Rebind,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::Values(Impl::Foreach, Impl::Fused),
                                            ::testing::Values(DType::f16),
                                            ::testing::Bool()),
                         rebind_name);

/// Every refused rebinding names what is wrong and changes nothing: the optimizer then steps
/// as its twin that was never asked.
class RebindErrors : public ::testing::TestWithParam<Executor> {};

TEST_P(RebindErrors, RefusedAndNothingChanges) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  Model m(DType::f32, device), twin(DType::f32, device);
  std::mt19937_64 rng(fresh_seed());
  for (std::size_t t = 0; t < m.values.size(); ++t) {
    m.values[t]->set(random_values(rng, kSizes[t], 1.0, DType::f32));
    twin.values[t]->set(m.values[t]->get());
  }
  AdamW opt(m.params());
  AdamW reference(twin.params());
  opt.set_grad_clipping(1.0);
  reference.set_grad_clipping(1.0);
  GuardedTensor other(kSizes[1], DType::f32, device), small(3, DType::f32, device);
  GuardedTensor half(kSizes[1], DType::bf16, device);
  const std::vector<Param> p = m.params();
  const auto refused = [&](const std::function<void()>& call, const std::string& message) {
    try {
      call();
      ADD_FAILURE() << "no Error; expected one saying: " << message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  refused([&] { opt.rebind(0, 1, {small.view(), p[1].grad}); },
          "rebind: param_groups[0].params[1].value is 3 f32 elements where the parameter has 4099 f32");
  refused([&] { opt.rebind(0, 1, {half.view(), p[1].grad}); }, "4099 bf16 elements");
  refused([&] { opt.rebind(0, 1, {other.view(), small.view()}); },
          "param_groups[0].params[1].grad.numel = 3 differs from value.numel = 4099");
  const TensorView inside_1{static_cast<float*>(p[1].value.data) + 1, kSizes[2], DType::f32,
                            device};  // elements 1..1000 of parameter 1
  refused([&] { opt.rebind(0, 2, {inside_1, p[2].grad}); },
          "param_groups[0].params[2].value.data = ");
  refused([&] { opt.rebind(0, 2, {inside_1, p[2].grad}); },
          " overlaps param_groups[0].params[1].value (a parameter may appear once");
  refused([&] { opt.rebind(0, 1, {other.view(), other.view()}); },
          "param_groups[0].params[1].grad overlaps param_groups[0].params[1].value");
  refused([&] { opt.rebind(0, 3, p[0]); }, "rebind: index = 3 is out of range");
  refused([&] { opt.rebind(1, {}); }, "group = 1 is out of range");
  refused([&] { opt.rebind(0, {p[0], p[1]}); }, "rebind: param_groups[0] has 2 parameter(s)");
  refused([&] { opt.rebind({p, p}); }, "rebind: 2 param group(s) given, the optimizer has 1");
  for (int step = 0; step < 3; ++step) {
    for (std::size_t t = 0; t < m.grads.size(); ++t) {
      m.grads[t]->set(random_values(rng, kSizes[t], 0.5, DType::f32));
      twin.grads[t]->set(m.grads[t]->get());
    }
    opt.step();
    reference.step();
  }
  for (std::size_t t = 0; t < m.values.size(); ++t)
    EXPECT_EQ(m.values[t]->get(), twin.values[t]->get());
}

/// NOTE(absent-grad): a parameter given without a gradient (as torch's grad is None before the
/// first backward) is skipped by step(), zero_grad() and the clipping norm until rebind() gives
/// it one; it then steps as a twin that started at that step, and the others as twins that never
/// had it.
class AbsentGradient : public ::testing::TestWithParam<std::tuple<Executor, Impl>> {};

TEST_P(AbsentGradient, SkippedUntilBoundThenStepsAsIfStartedThen) {
  const auto [executor, impl] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  constexpr int kBoundAt = 3;
  for (const OptimizerCase& c : all_optimizer_cases()) {
    SCOPED_TRACE(c.name);
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Model m(DType::f32, device), twins(DType::f32, device);
    for (std::size_t t = 0; t < m.values.size(); ++t) {
      m.values[t]->set(random_values(rng, kSizes[t], 1.0, DType::f32));
      twins.values[t]->set(m.values[t]->get());
    }
    std::vector<Param> given = m.params();
    given[1].grad = TensorView{};  // no gradient yet
    const std::unique_ptr<Optimizer> a = c.make(given);
    const std::vector<Param> t = twins.params();
    const std::unique_ptr<Optimizer> late = c.make({t[1]});       // starts at kBoundAt
    const std::unique_ptr<Optimizer> others = c.make({t[0], t[2]});  // never has parameter 1
    for (Optimizer* opt : {a.get(), late.get(), others.get()}) {
      opt->set_impl(impl);
      opt->set_grad_clipping(1e30);  // the norm is computed, the gradients are not changed
    }
    for (std::size_t k = 0; k < m.grads.size(); ++k)
      m.grads[k]->set(std::vector<double>(std::size_t(kSizes[k]), 7.0));
    for (int step = 0; step < 2 * kBoundAt; ++step) {
      if (step == kBoundAt) a->rebind(0, 1, m.params()[1]);
      a->zero_grad();
      for (std::size_t k = 0; k < m.grads.size(); ++k) {
        EXPECT_EQ(m.grads[k]->get(), std::vector<double>(std::size_t(kSizes[k]),
                                                         k == 1 && step < kBoundAt ? 7.0 : 0.0))
            << "zero_grad wrote a gradient that is not bound, or left one that is";
        const std::vector<double> g = random_values(rng, kSizes[k], 0.5, DType::f32);
        m.grads[k]->set(k == 1 && step < kBoundAt ? std::vector<double>(g.size(), 7.0) : g);
        twins.grads[k]->set(g);
      }
      const Snapshot before = snapshot(*a, *m.values[1], 1);
      a->step();
      others->step();
      if (step < kBoundAt) {
        EXPECT_EQ(snapshot(*a, *m.values[1], 1), before) << "step " << step << ": it changed";
        EXPECT_EQ(read_scalar(a->grad_norm(), device), read_scalar(others->grad_norm(), device))
            << "step " << step << ": the norm read a gradient that is not bound";
      } else {
        late->step();
      }
    }
    EXPECT_EQ(snapshot(*a, *m.values[1], 1), snapshot(*late, *twins.values[1], 0));
    EXPECT_EQ(a->step_count(0, 1), double(kBoundAt));
    EXPECT_EQ(snapshot(*a, *m.values[0], 0), snapshot(*others, *twins.values[0], 0));
    EXPECT_EQ(snapshot(*a, *m.values[2], 2), snapshot(*others, *twins.values[2], 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Executors, AbsentGradient,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::Values(Impl::Loop, Impl::Fused)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" +
                                  to_string(std::get<1>(info.param));
                         });
INSTANTIATE_TEST_SUITE_P(Emulated, AbsentGradient,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::Values(Impl::Foreach, Impl::Fused)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" +
                                  to_string(std::get<1>(info.param));
                         });

INSTANTIATE_TEST_SUITE_P(Executors, RebindErrors, ::testing::ValuesIn(native_executors()),
                         [](const auto& info) { return std::string(to_string(info.param)); });

/// NOTE(rebind): an AveragedModel whose parameters moved (torch::load into a live model) is
/// rebound and averages as its twin that never moved; the memory left behind holds other values.
/// Refused rebinds change nothing.
class AveragedRebind : public ::testing::TestWithParam<std::tuple<Executor, DType>> {};

TEST_P(AveragedRebind, MovedParametersAverageAsIfTheyNeverMoved) {
  const auto [executor, dtype] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (const AveragingMode mode : {ema_decay(0.75), swa_average()}) {
    Model m(dtype, device), twin(dtype, device);
    std::vector<std::unique_ptr<GuardedTensor>> left;
    const auto views = [](const Model& model) {
      std::vector<TensorView> out;
      for (const auto& v : model.values) out.push_back(v->view());
      return out;
    };
    AveragedModel moved(views(m), mode), still(views(twin), mode);
    for (int step = 0; step < kSteps; ++step) {
      for (std::size_t t = 0; t < m.values.size(); ++t) {
        m.values[t]->set(random_values(rng, kSizes[t], 1.0, dtype));
        twin.values[t]->set(m.values[t]->get());
      }
      if (step == 2 || step == 4) {
        move_all(m.values, left, 1e4, device);
        moved.rebind(views(m));
      }
      moved.update();
      still.update();
    }
    const AveragedState a = moved.state_dict(), b = still.state_dict();
    EXPECT_EQ(a.averaged, b.averaged);
    EXPECT_EQ(a.n_averaged, b.n_averaged);

    // Refused: another count, size, dtype or a null view; nothing changes.
    std::vector<TensorView> bad = views(m);
    bad.pop_back();
    EXPECT_THROW(moved.rebind(bad), Error);
    bad = views(m);
    bad[1].numel -= 1;
    EXPECT_THROW(moved.rebind(bad), Error);
    bad = views(m);
    bad[0].dtype = dtype == DType::f32 ? DType::bf16 : DType::f32;
    EXPECT_THROW(moved.rebind(bad), Error);
    bad = views(m);
    bad[2].data = nullptr;
    EXPECT_THROW(moved.rebind(bad), Error);
    for (std::size_t t = 0; t < m.values.size(); ++t) {
      m.values[t]->set(random_values(rng, kSizes[t], 1.0, dtype));
      twin.values[t]->set(m.values[t]->get());
    }
    moved.update();
    still.update();
    EXPECT_EQ(moved.state_dict().averaged, still.state_dict().averaged) << "a refused rebind changed it";
  }
}

INSTANTIATE_TEST_SUITE_P(Executors, AveragedRebind,
                         ::testing::Combine(::testing::Values(Executor::cpu, Executor::emulated,
                                                              Executor::cuda),
                                            ::testing::Values(DType::f32, DType::bf16)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" +
                                  to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace fusedopt::testing
