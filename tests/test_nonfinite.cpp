// NaN and infinity propagate as in torch.optim: no element is skipped or sanitised. The
// expected patterns come from PyTorch itself (tests/golden/generate_nonfinite.py, for-loop and
// foreach paths, which agree): for each configuration, which elements of two parameters are
// NaN, +inf, -inf or finite after each of 8 steps, and of every state tensor after the last,
// when one gradient holds NaN and +-inf at step 1 and the other parameter starts non-finite.
// Every implementation on every executor must reproduce them.
//
// Where torch's paths disagree with each other, the for-loop/foreach path is the one matched:
// exp_avg.lerp_ (two-sided lerp: an infinite average becomes NaN at the next finite gradient),
// and p * (1 - lr * wd) - update for an infinite p (NOTE(decoupled-decay)).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

struct Golden {
  const char* id;
  std::vector<std::pair<const char*, const char*>> steps;            // {a, b} after each step
  std::vector<std::tuple<const char*, const char*, const char*>> states;  // {name, a, b}
};

const std::vector<Golden> kGolden = {
#include "golden/nonfinite.inc"
};

/// The configurations of generate_nonfinite.py, by id.
std::unique_ptr<Optimizer> make(const std::string& id, const std::vector<Param>& params) {
  if (id == "SGD") return std::make_unique<SGD>(params, SGDOptions().lr(0.1));
  if (id == "SGD_momentum_wd")
    return std::make_unique<SGD>(params, SGDOptions().lr(0.1).momentum(0.9).weight_decay(0.1));
  if (id == "SGD_nesterov")
    return std::make_unique<SGD>(params, SGDOptions().lr(0.1).momentum(0.9).nesterov(true));
  if (id == "Adam") return std::make_unique<Adam>(params);
  if (id == "Adam_amsgrad_wd")
    return std::make_unique<Adam>(params, AdamOptions().amsgrad(true).weight_decay(0.1));
  if (id == "AdamW") return std::make_unique<AdamW>(params);
  if (id == "RMSprop_centered_momentum")
    return std::make_unique<RMSprop>(params, RMSpropOptions().centered(true).momentum(0.9));
  if (id == "Adagrad_wd") return std::make_unique<Adagrad>(params, AdagradOptions().weight_decay(0.1));
  if (id == "Adamax") return std::make_unique<Adamax>(params);
  if (id == "NAdam_decoupled")
    return std::make_unique<NAdam>(params, NAdamOptions().weight_decay(0.1).decoupled_weight_decay(true));
  if (id == "RAdam_decoupled")
    return std::make_unique<RAdam>(
        params, RAdamOptions().betas({0.9, 0.9}).weight_decay(0.1).decoupled_weight_decay(true));
  if (id == "Adadelta") return std::make_unique<Adadelta>(params);
  if (id == "Rprop") return std::make_unique<Rprop>(params);
  if (id == "ASGD_t0") return std::make_unique<ASGD>(params, ASGDOptions().t0(2.0).weight_decay(0.1));
  ADD_FAILURE() << "no configuration " << id;
  return nullptr;
}

template <class Values>
std::string classify(const Values& values) {
  std::string s;
  for (double v : values) s += std::isnan(v) ? 'N' : v == INFINITY ? '+' : v == -INFINITY ? '-' : '.';
  return s;
}

class NonFinite : public ::testing::TestWithParam<std::tuple<Executor, Impl>> {};

TEST_P(NonFinite, PropagatesLikeTorch) {
  const auto [executor, impl] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = INFINITY;
  for (const Golden& golden : kGolden) {
    SCOPED_TRACE(golden.id);
    GuardedTensor a(6, DType::f32, device), ga(6, DType::f32, device);
    GuardedTensor b(6, DType::f32, device), gb(6, DType::f32, device);
    a.set({1, 1, 1, 1, 1, 1});
    b.set({inf, -inf, nan, 1, -1, 0});
    std::unique_ptr<Optimizer> opt = make(golden.id, {{a.view(), ga.view()}, {b.view(), gb.view()}});
    ASSERT_TRUE(opt);
    opt->set_impl(impl);
    for (std::size_t step = 0; step < golden.steps.size(); ++step) {
      const std::vector<double> finite(6, 0.25);
      ga.set(step == 0 ? std::vector<double>{nan, inf, -inf, 0, 0.5, -0.5} : finite);
      gb.set(finite);
      opt->step();
      EXPECT_EQ(classify(a.get()), golden.steps[step].first) << "a after step " << step + 1;
      EXPECT_EQ(classify(b.get()), golden.steps[step].second) << "b after step " << step + 1;
    }
    for (const auto& [name, want_a, want_b] : golden.states) {
      EXPECT_EQ(classify(opt->state(0, 0, name)), want_a) << "state " << name << " of a";
      EXPECT_EQ(classify(opt->state(0, 1, name)), want_b) << "state " << name << " of b";
    }
    EXPECT_TRUE(a.guards_intact() && b.guards_intact());
  }
}

std::string nonfinite_name(const ::testing::TestParamInfo<std::tuple<Executor, Impl>>& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" + to_string(std::get<1>(info.param));
}
INSTANTIATE_TEST_SUITE_P(AllImpls, NonFinite,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::Values(Impl::Loop, Impl::Foreach,
                                                              Impl::Fused)),
                         nonfinite_name);
INSTANTIATE_TEST_SUITE_P(Emulated, NonFinite,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::Values(Impl::Loop, Impl::Foreach,
                                                              Impl::Fused)),
                         nonfinite_name);

}  // namespace
}  // namespace fusedopt::testing
