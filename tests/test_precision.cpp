// NOTE(master-weights), NOTE(stochastic-rounding): per-group precision.
//
// Master weights are checked bitwise: an f16/bf16 parameter with an fp32 master follows exactly
// the trajectory of an fp32 parameter started from the same value with the same gradients (so
// the master inherits the fp32 path's checks against the double reference in
// test_trajectories.cpp), and the parameter is that master rounded to nearest. Stochastic
// rounding is checked for reproducibility (same seed, any Impl, any executor, resumed from a
// checkpoint: the same bits), for its effect (updates below half an ulp move the weight, on
// average by the right amount) and for exact values staying exact. A small regression shows
// plain bf16 stalling where master weights and stochastic rounding train.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

constexpr std::int64_t kSizes[] = {5, 4099, 1000, 0};

std::vector<std::uint16_t> bits16(const GuardedTensor& t) {
  std::vector<std::uint16_t> out(std::size_t(t.numel()));
  if (!out.empty()) copy_view_to_host(t.view(), out.data());
  return out;
}

struct Tensors {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  Tensors(DType dtype, Device device) {
    for (std::int64_t n : kSizes) {
      values.push_back(std::make_unique<GuardedTensor>(n, dtype, device, int(n % 2)));
      grads.push_back(std::make_unique<GuardedTensor>(n, dtype, device));
    }
  }
  std::vector<Param> params() const {
    std::vector<Param> out;
    for (std::size_t i = 0; i < values.size(); ++i) out.push_back({values[i]->view(), grads[i]->view()});
    return out;
  }
};

class MasterWeights : public ::testing::TestWithParam<std::tuple<Executor, Impl, DType>> {};

TEST_P(MasterWeights, MasterFollowsTheFp32TrajectoryAndParameterIsItRounded) {
  const auto [executor, impl, dtype] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  for (const OptimizerCase& c : all_optimizer_cases()) {
    SCOPED_TRACE(c.name);
    std::mt19937_64 rng(fresh_seed());
    Tensors low(dtype, device), fp32(DType::f32, device);
    for (std::size_t t = 0; t < low.values.size(); ++t) {
      const std::vector<double> v = random_values(rng, kSizes[t], 1.0, dtype);  // exact in dtype
      low.values[t]->set(v);
      fp32.values[t]->set(v);
    }
    const std::unique_ptr<Optimizer> a = c.make(low.params());
    const std::unique_ptr<Optimizer> b = c.make(fp32.params());
    a->set_impl(impl);
    b->set_impl(impl);
    a->set_precision(0, Precision{true, false, 0});
    EXPECT_TRUE(a->precision(0).master_weights);
    for (int step = 0; step < 6; ++step) {
      for (std::size_t t = 0; t < low.values.size(); ++t) {
        const std::vector<double> g = random_values(rng, kSizes[t], 0.5, dtype);
        low.grads[t]->set(g);
        fp32.grads[t]->set(g);
      }
      a->step();
      b->step();
    }
    for (std::size_t t = 0; t < low.values.size(); ++t) {
      SCOPED_TRACE("tensor " + std::to_string(t));
      const std::vector<double> expected = fp32.values[t]->get();
      const StateDict sd = a->state_dict();
      const std::vector<float>& master = sd.state.at(std::int64_t(t)).tensors.at("master_param");
      ASSERT_EQ(master.size(), expected.size());
      std::vector<double> rounded(expected.size());
      for (std::size_t i = 0; i < expected.size(); ++i) {
        // NaN-safe bitwise comparison of the master with the fp32 parameter.
        const float e = float(expected[i]);
        EXPECT_EQ(std::memcmp(&master[i], &e, 4), 0) << "element " << i << ": master " << master[i]
                                                    << ", fp32 run " << e;
        rounded[i] = round_to(dtype, expected[i]);
      }
      const std::vector<double> got = low.values[t]->get();
      for (std::size_t i = 0; i < got.size(); ++i)
        if (!(std::isnan(got[i]) && std::isnan(rounded[i])))
          EXPECT_EQ(got[i], rounded[i]) << "element " << i;
      for (const std::string& name : b->state_names(0))
        EXPECT_EQ(a->state(0, t, name), b->state(0, t, name)) << name;
      EXPECT_TRUE(low.values[t]->guards_intact());
    }
  }
}

std::string precision_name(const ::testing::TestParamInfo<MasterWeights::ParamType>& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" + to_string(std::get<1>(info.param)) +
         "_" + to_string(std::get<2>(info.param));
}
INSTANTIATE_TEST_SUITE_P(Executors, MasterWeights,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::Values(Impl::Loop, Impl::Foreach, Impl::Fused),
                                            ::testing::Values(DType::f16, DType::bf16)),
                         precision_name);
INSTANTIATE_TEST_SUITE_P(Emulated, MasterWeights,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::Values(Impl::Foreach, Impl::Fused),
                                            ::testing::Values(DType::bf16)),
                         precision_name);

/// Runs `steps` steps of AdamW with stochastic rounding on bf16 parameters with gradients from
/// a fixed generator, and returns the parameters' bits.
std::vector<std::vector<std::uint16_t>> stochastic_run(Executor executor, Impl impl,
                                                       std::uint64_t seed, int steps,
                                                       const OptimizerCase& c) {
  const UseExecutor use(executor);
  const Device device = device_of(executor);
  Tensors t(DType::bf16, device);
  std::mt19937_64 rng(1234);
  for (std::size_t k = 0; k < t.values.size(); ++k)
    t.values[k]->set(random_values(rng, kSizes[k], 1.0, DType::bf16));
  const std::unique_ptr<Optimizer> opt = c.make(t.params());
  opt->set_impl(impl);
  opt->set_precision(Precision{false, true, seed});
  for (int s = 0; s < steps; ++s) {
    for (std::size_t k = 0; k < t.values.size(); ++k)
      t.grads[k]->set(random_values(rng, kSizes[k], 0.5, DType::bf16));
    opt->step();
  }
  std::vector<std::vector<std::uint16_t>> out;
  for (const auto& v : t.values) out.push_back(bits16(*v));
  return out;
}

TEST(StochasticRounding, SameBitsForEveryImplAndExecutorAndDifferentSeedsDiffer) {
  for (const OptimizerCase& c : all_optimizer_cases()) {
    SCOPED_TRACE(c.name);
    const auto reference = stochastic_run(Executor::cpu, Impl::Fused, 7, 4, c);
    EXPECT_EQ(stochastic_run(Executor::cpu, Impl::Fused, 7, 4, c), reference);
    EXPECT_EQ(stochastic_run(Executor::cpu, Impl::Foreach, 7, 4, c), reference);
    EXPECT_EQ(stochastic_run(Executor::cpu, Impl::Loop, 7, 4, c), reference);
    EXPECT_EQ(stochastic_run(Executor::emulated, Impl::Fused, 7, 4, c), reference);
    EXPECT_EQ(stochastic_run(Executor::emulated, Impl::Foreach, 7, 4, c), reference);
    EXPECT_NE(stochastic_run(Executor::cpu, Impl::Fused, 8, 4, c), reference);
  }
}

TEST(StochasticRounding, RoundsUpWithTheProbabilityOfTheFractionAndKeepsExactValues) {
  // SGD with lr 1: every element of `start` moves by `delta` (exact in fp32) to a point between
  // two bf16 values, and must land on the one farther from `start` with the probability of the
  // fraction of the gap it covers. u = 2^-7, the bf16 ulp in [1, 2). Up and down, both signs,
  // across a power of two (below 1.0 the ulp is u/2) and at fractions 1/4, 1/2, 3/4, 7/8.
  struct Case {
    double start, delta, lower, upper, p_upper;
  };
  const double u = 1.0 / 128;
  const Case cases[] = {
      {1.0, u / 4, 1.0, 1.0 + u, 0.25},
      {1.0, -3 * u / 8, 1.0 - u / 2, 1.0, 0.25},      // 3/4 of the gap below 1.0: down w.p. 3/4
      {-1.5, -7 * u / 8, -1.5 - u, -1.5, 0.125},      // away from zero w.p. 7/8
      {3.0, u, 3.0, 3.0 + 2 * u, 0.5},                 // ulp 2u in [2, 4)
  };
  constexpr std::int64_t n = 1 << 16;
  for (const Executor executor : {Executor::cpu, Executor::emulated}) {
    SCOPED_TRACE(to_string(executor));
    const UseExecutor use(executor);
    for (const Case& c : cases) {
      SCOPED_TRACE("start " + std::to_string(c.start) + " delta " + std::to_string(c.delta));
      GuardedTensor w(n, DType::bf16, Device::cpu()), g(n, DType::bf16, Device::cpu());
      w.set(std::vector<double>(n, c.start));
      g.set(std::vector<double>(n, -c.delta));
      SGD opt({{w.view(), g.view()}}, SGDOptions().lr(1.0));
      opt.set_precision(0, Precision{false, true, 99});
      opt.step();
      std::int64_t upper = 0;
      for (const double v : w.get()) {
        ASSERT_TRUE(v == c.lower || v == c.upper) << v;
        upper += v == c.upper;
      }
      // Binomial(2^16, p): within 6 standard deviations of its mean.
      const double sd = std::sqrt(n * c.p_upper * (1 - c.p_upper));
      EXPECT_NEAR(double(upper), n * c.p_upper, 6 * sd);
      EXPECT_TRUE(w.guards_intact());
    }
    // An exact update (a whole ulp) is exact.
    GuardedTensor w(n, DType::bf16, Device::cpu()), g(n, DType::bf16, Device::cpu());
    w.set(std::vector<double>(n, 1.0));
    g.set(std::vector<double>(n, -u));
    SGD opt({{w.view(), g.view()}}, SGDOptions().lr(1.0));
    opt.set_precision(0, Precision{false, true, 99});
    opt.step();
    for (const double v : w.get()) ASSERT_EQ(v, 1.0 + u);
    EXPECT_TRUE(w.guards_intact());
  }
}

TEST(StochasticRounding, ResumedRunIsBitIdentical) {
  for (const OptimizerCase& c : all_optimizer_cases()) {
    SCOPED_TRACE(c.name);
    std::mt19937_64 rng(fresh_seed());
    Tensors a(DType::bf16, Device::cpu()), b(DType::bf16, Device::cpu());
    for (std::size_t k = 0; k < a.values.size(); ++k)
      a.values[k]->set(random_values(rng, kSizes[k], 1.0, DType::bf16));
    std::vector<std::vector<std::vector<double>>> grads(6);
    for (auto& step : grads)
      for (std::int64_t n : kSizes) step.push_back(random_values(rng, n, 0.5, DType::bf16));
    const std::unique_ptr<Optimizer> full = c.make(a.params());
    full->set_precision(Precision{false, true, 42});
    std::vector<unsigned char> checkpoint;
    for (int s = 0; s < 6; ++s) {
      if (s == 3) {
        checkpoint = full->save_bytes();
        for (std::size_t k = 0; k < a.values.size(); ++k) b.values[k]->set(a.values[k]->get());
      }
      for (std::size_t k = 0; k < a.values.size(); ++k) a.grads[k]->set(grads[std::size_t(s)][k]);
      full->step();
    }
    const std::unique_ptr<Optimizer> resumed = c.make(b.params());  // precision from the file
    resumed->load_bytes(checkpoint.data(), checkpoint.size());
    EXPECT_EQ(resumed->precision(0), (Precision{false, true, 42}));
    for (int s = 3; s < 6; ++s) {
      for (std::size_t k = 0; k < b.values.size(); ++k) b.grads[k]->set(grads[std::size_t(s)][k]);
      resumed->step();
    }
    for (std::size_t k = 0; k < a.values.size(); ++k) EXPECT_EQ(bits16(*b.values[k]), bits16(*a.values[k]));
  }
}

TEST(MasterWeightsCheckpoint, SaveAndLoadRestoreMastersAndPrecision) {
  for (const Executor executor : {Executor::cpu, Executor::emulated}) {
    SCOPED_TRACE(to_string(executor));
    const UseExecutor use(executor);
    std::mt19937_64 rng(fresh_seed());
    Tensors a(DType::bf16, Device::cpu()), b(DType::bf16, Device::cpu());
    for (std::size_t k = 0; k < a.values.size(); ++k)
      a.values[k]->set(random_values(rng, kSizes[k], 1.0, DType::bf16));
    AdamW full(a.params(), AdamWOptions().lr(1e-3));
    full.set_precision(0, Precision{true, false, 0});
    std::vector<unsigned char> checkpoint;
    StateDict sd;
    for (int s = 0; s < 6; ++s) {
      if (s == 3) {
        checkpoint = full.save_bytes();
        sd = full.state_dict();
        for (std::size_t k = 0; k < a.values.size(); ++k) b.values[k]->set(a.values[k]->get());
      }
      for (std::size_t k = 0; k < a.values.size(); ++k)
        a.grads[k]->set(random_values(rng, kSizes[k], 0.5, DType::bf16));
      full.step();
    }
    ASSERT_TRUE(sd.param_groups[0].precision.has_value());
    EXPECT_TRUE(sd.param_groups[0].precision->master_weights);
    EXPECT_EQ(sd.state.at(1).tensors.count("master_param"), 1u);
    // The file form carries precision and masters.
    const StateDict parsed = parse_state_dict(checkpoint.data(), checkpoint.size());
    EXPECT_EQ(parsed.param_groups[0].precision, sd.param_groups[0].precision);
    EXPECT_EQ(parsed.state.at(1).tensors.at("master_param"), sd.state.at(1).tensors.at("master_param"));
    // A fresh optimizer without master weights takes them from the file, with the masters'
    // exact values (not the rounded parameters').
    AdamW resumed(b.params(), AdamWOptions().lr(1e-3));
    resumed.load_bytes(checkpoint.data(), checkpoint.size());
    EXPECT_TRUE(resumed.precision(0).master_weights);
    EXPECT_EQ(resumed.state_dict().state.at(1).tensors.at("master_param"),
              sd.state.at(1).tensors.at("master_param"));
    // Same through load_state_dict.
    AdamW from_dict(b.params(), AdamWOptions().lr(1e-3));
    from_dict.load_state_dict(sd);
    EXPECT_EQ(from_dict.state_dict().state.at(1).tensors.at("master_param"),
              sd.state.at(1).tensors.at("master_param"));
  }
}

TEST(MasterWeightsCheckpoint, ResumedTrainingIsBitIdentical) {
  std::mt19937_64 rng(fresh_seed());
  Tensors a(DType::bf16, Device::cpu()), b(DType::bf16, Device::cpu());
  for (std::size_t k = 0; k < a.values.size(); ++k)
    a.values[k]->set(random_values(rng, kSizes[k], 1.0, DType::bf16));
  std::vector<std::vector<std::vector<double>>> grads(8);
  for (auto& step : grads)
    for (std::int64_t n : kSizes) step.push_back(random_values(rng, n, 0.5, DType::bf16));
  AdamW full(a.params(), AdamWOptions().lr(1e-4));
  full.set_precision(0, Precision{true, false, 0});
  std::vector<unsigned char> checkpoint;
  for (int s = 0; s < 8; ++s) {
    if (s == 4) {
      checkpoint = full.save_bytes();
      for (std::size_t k = 0; k < a.values.size(); ++k) b.values[k]->set(a.values[k]->get());
    }
    for (std::size_t k = 0; k < a.values.size(); ++k) a.grads[k]->set(grads[std::size_t(s)][k]);
    full.step();
  }
  AdamW resumed(b.params(), AdamWOptions().lr(1e-4));
  resumed.load_bytes(checkpoint.data(), checkpoint.size());
  for (int s = 4; s < 8; ++s) {
    for (std::size_t k = 0; k < b.values.size(); ++k) b.grads[k]->set(grads[std::size_t(s)][k]);
    resumed.step();
  }
  for (std::size_t k = 0; k < a.values.size(); ++k) EXPECT_EQ(bits16(*b.values[k]), bits16(*a.values[k]));
  EXPECT_EQ(resumed.state_dict().state.at(1).tensors, full.state_dict().state.at(1).tensors);
}

TEST(MasterWeightsCheckpoint, StatesWithoutPrecisionAndMismatchedMasters) {
  GuardedTensor w(4, DType::bf16, Device::cpu()), g(4, DType::bf16, Device::cpu());
  GuardedTensor f(3, DType::f32, Device::cpu()), gf(3, DType::f32, Device::cpu());
  w.set({1, 2, 3, 4});
  g.set({0.5, 0.5, 0.5, 0.5});
  f.set({1, 1, 1});
  gf.set({1, 1, 1});
  SGD plain({{w.view(), g.view()}, {f.view(), gf.view()}}, SGDOptions().lr(1e-3).momentum(0.9));
  plain.step();
  StateDict sd = plain.state_dict();
  // A state without precision (as from torch) keeps the optimizer's own; the master then
  // starts from the parameter.
  sd.param_groups[0].precision.reset();
  SGD master({{w.view(), g.view()}, {f.view(), gf.view()}}, SGDOptions().lr(1e-3).momentum(0.9));
  master.set_precision(0, Precision{true, false, 0});
  master.load_state_dict(sd);
  EXPECT_TRUE(master.precision(0).master_weights);
  const std::vector<double> now = w.get();
  std::vector<float> as_float(now.begin(), now.end());
  EXPECT_EQ(master.state_dict().state.at(0).tensors.at("master_param"), as_float);
  EXPECT_EQ(master.state_dict().state.at(1).tensors.count("master_param"), 0u);  // f32: none
  // A master for a parameter that has none after the load is refused, the optimizer unchanged.
  StateDict bad = master.state_dict();
  bad.param_groups[0].precision = Precision{};
  const std::vector<unsigned char> before = master.save_bytes();
  EXPECT_THROW(master.load_state_dict(bad), Error);
  EXPECT_EQ(master.save_bytes(), before);
  // A master of the wrong size is refused.
  bad = master.state_dict();
  bad.state.at(0).tensors.at("master_param").resize(3);
  EXPECT_THROW(master.load_state_dict(bad), Error);
  EXPECT_EQ(master.save_bytes(), before);
}

TEST(MasterWeights, TurningOnCopiesTheParametersSyncRereadsThemAndOffFreesThem) {
  GuardedTensor w(5, DType::bf16, Device::cpu()), g(5, DType::bf16, Device::cpu());
  w.set({1, 2, 3, 4, 5});
  g.set({0, 0, 0, 0, 0});
  SGD opt({{w.view(), g.view()}}, SGDOptions().lr(1.0));
  opt.set_precision(0, Precision{true, false, 0});
  g.set({1.0 / 1024, 0, 0, 0, 0});  // below half a bf16 ulp at 1: only the master moves
  opt.step();
  EXPECT_EQ(w.get()[0], 1.0);
  EXPECT_EQ(opt.state_dict().state.at(0).tensors.at("master_param")[0], 1.0f - 1.0f / 1024);
  w.set({8, 2, 3, 4, 5});  // written by the user: the master follows only after a sync
  opt.sync_master_weights();
  g.set({0, 0, 0, 0, 0});
  opt.step();
  EXPECT_EQ(w.get()[0], 8.0);
  EXPECT_EQ(opt.state_dict().state.at(0).tensors.at("master_param")[0], 8.0f);
  opt.set_precision(0, Precision{});
  EXPECT_EQ(opt.state_dict().state.at(0).tensors.count("master_param"), 0u);
  EXPECT_THROW(opt.set_precision(1, Precision{}), Error);
  EXPECT_THROW(opt.precision(3), Error);
}

TEST(MasterWeights, ByteModelCountsTheMasterAndTheParameterWrite) {
  constexpr std::int64_t n = 1 << 12;
  GuardedTensor w(n, DType::bf16, Device::cpu()), g(n, DType::bf16, Device::cpu());
  AdamW opt({{w.view(), g.view()}});
  EXPECT_EQ(opt.step_cost().bytes, 22.0 * n);  // p r/w 4, g 2, two fp32 states r/w 16
  opt.set_precision(0, Precision{true, false, 0});
  EXPECT_EQ(opt.step_cost().bytes, 28.0 * n);  // master r/w 8, g 2, p write 2, states 16
}

/// A separable quadratic, loss = 1/2 sum a_i (w_i - t_i)^2, trained with AdamW at lr 1e-4 from
/// w = 1: the targets lie 6-13 bf16 ulps away, each update is far below half an ulp.
double regression_loss_ratio(const Precision& precision, double* changed_fraction) {
  constexpr std::int64_t n = 512;
  constexpr int kSteps = 1500;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> offset(0.05, 0.1), curvature(0.5, 2.0);
  std::vector<double> target(n), a(n);
  for (std::int64_t i = 0; i < n; ++i) {
    target[std::size_t(i)] = 1.0 + (i % 2 ? 1 : -1) * offset(rng);
    a[std::size_t(i)] = curvature(rng);
  }
  GuardedTensor w(n, DType::bf16, Device::cpu()), g(n, DType::bf16, Device::cpu());
  w.set(std::vector<double>(n, 1.0));
  AdamW opt({{w.view(), g.view()}}, AdamWOptions().lr(1e-4).weight_decay(0.0));
  opt.set_precision(0, precision);
  const auto loss = [&](const std::vector<double>& v) {
    double l = 0;
    for (std::size_t i = 0; i < v.size(); ++i) l += 0.5 * a[i] * (v[i] - target[i]) * (v[i] - target[i]);
    return l;
  };
  const double initial = loss(w.get());
  std::vector<bool> changed(n, false);
  for (int s = 0; s < kSteps; ++s) {
    const std::vector<double> v = w.get();
    std::vector<double> grad(n);
    for (std::size_t i = 0; i < v.size(); ++i) {
      grad[i] = a[i] * (v[i] - target[i]);
      changed[i] = changed[i] || v[i] != 1.0;
    }
    g.set(grad);
    opt.step();
  }
  std::int64_t moved = 0;
  const std::vector<double> final_values = w.get();
  for (std::size_t i = 0; i < final_values.size(); ++i) moved += changed[i] || final_values[i] != 1.0;
  *changed_fraction = double(moved) / n;
  return loss(final_values) / initial;
}

TEST(Bf16Training, PlainBf16StallsMasterWeightsAndStochasticRoundingTrain) {
  double changed = 0;
  const double plain = regression_loss_ratio(Precision{}, &changed);
  EXPECT_EQ(plain, 1.0) << "an update of 1e-4 is below half a bf16 ulp at 1: nothing moves";
  EXPECT_EQ(changed, 0.0);
  const double master = regression_loss_ratio(Precision{true, false, 0}, &changed);
  EXPECT_LT(master, 0.01) << "loss / initial loss with master weights";
  EXPECT_EQ(changed, 1.0);
  const double stochastic = regression_loss_ratio(Precision{false, true, 3}, &changed);
  EXPECT_LT(stochastic, 0.05) << "loss / initial loss with stochastic rounding";
  EXPECT_GT(changed, 0.99);
  std::printf("bf16 AdamW lr 1e-4, 1500 steps, loss / initial: plain %.4f, master weights %.5f, "
              "stochastic rounding %.5f\n",
              plain, master, stochastic);
}


// ---- NOTE(state-dtype): bf16 optimizer state -------------------------------------------------

bool is_bf16(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  return (u & 0xffffu) == 0 || std::isnan(v);
}

/// bf16 parameters (with or without master) stepped with bf16 state; returns the parameters'
/// bits and every state tensor.
struct Bf16StateRun {
  std::vector<std::vector<std::uint16_t>> params;
  std::vector<std::vector<std::vector<float>>> states;  // [tensor][state]
  std::vector<std::vector<float>> masters;
  bool operator==(const Bf16StateRun& o) const {
    return params == o.params && states == o.states && masters == o.masters;
  }
};

Bf16StateRun bf16_state_run(Executor executor, Impl impl, const Precision& precision,
                            const OptimizerCase& c, int steps = 4) {
  const UseExecutor use(executor);
  Tensors t(DType::bf16, device_of(executor));
  std::mt19937_64 rng(77);
  for (std::size_t k = 0; k < t.values.size(); ++k)
    t.values[k]->set(random_values(rng, kSizes[k], 1.0, DType::bf16));
  const std::unique_ptr<Optimizer> opt = c.make(t.params());
  opt->set_impl(impl);
  opt->set_precision(precision);
  for (int s = 0; s < steps; ++s) {
    for (std::size_t k = 0; k < t.values.size(); ++k)
      t.grads[k]->set(random_values(rng, kSizes[k], 0.5, DType::bf16));
    opt->step();
  }
  Bf16StateRun out;
  const StateDict sd = opt->state_dict();
  for (std::size_t k = 0; k < t.values.size(); ++k) {
    out.params.push_back(bits16(*t.values[k]));
    out.states.emplace_back();
    for (const std::string& name : opt->state_names(0)) out.states.back().push_back(opt->state(0, k, name));
    if (precision.master_weights && sd.state.count(std::int64_t(k)))
      out.masters.push_back(sd.state.at(std::int64_t(k)).tensors.at("master_param"));
  }
  return out;
}

TEST(Bf16State, SameBitsForEveryImplAndExecutorAndStateIsBf16) {
  std::vector<Precision> modes(4);
  modes[0].state_dtype = DType::bf16;
  modes[1] = modes[0];
  modes[1].master_weights = true;
  modes[2] = modes[0];
  modes[2].stochastic_rounding = true;
  modes[2].seed = 11;
  modes[3] = modes[1];
  modes[3].stochastic_rounding = true;
  for (const OptimizerCase& c : all_optimizer_cases())
    for (std::size_t m = 0; m < modes.size(); ++m) {
      SCOPED_TRACE(c.name + " mode " + std::to_string(m));
      const Bf16StateRun reference = bf16_state_run(Executor::cpu, Impl::Fused, modes[m], c);
      EXPECT_TRUE(bf16_state_run(Executor::cpu, Impl::Foreach, modes[m], c) == reference);
      EXPECT_TRUE(bf16_state_run(Executor::cpu, Impl::Loop, modes[m], c) == reference);
      EXPECT_TRUE(bf16_state_run(Executor::emulated, Impl::Fused, modes[m], c) == reference);
      EXPECT_TRUE(bf16_state_run(Executor::emulated, Impl::Loop, modes[m], c) == reference);
      for (const auto& tensor : reference.states)
        for (const auto& state : tensor)
          for (const float v : state) ASSERT_TRUE(is_bf16(v)) << v;
    }
}

TEST(Bf16State, MasterStaysCloseToTheFp32StateRun) {
  // Tolerance (bf16 state, fp32 master): over 6 steps the master stays within 3% of the sum of
  // the fp32-state run's absolute updates of it, plus 1e-6: the state is rounded to 8 bits of
  // mantissa (relative 2^-9) each step, and the update is a smooth function of it (but Lion's,
  // below). The fp32-state run itself is checked against the double reference
  // (test_trajectories.cpp) and, through MasterWeights, equals the fp32-parameter trajectory.
  for (const OptimizerCase& c : all_optimizer_cases()) {
    SCOPED_TRACE(c.name);
    Precision f32_state, bf16_state;
    f32_state.master_weights = bf16_state.master_weights = true;
    bf16_state.state_dtype = DType::bf16;
    // The fp32-state run's masters after 0..6 steps (after 0: the parameters).
    std::vector<std::vector<std::vector<float>>> masters;
    Bf16StateRun f32_run, bf16_run;
    for (int steps = 0; steps <= 6; ++steps) {
      f32_run = bf16_state_run(Executor::cpu, Impl::Fused, f32_state, c, steps);
      if (steps == 0) {
        masters.emplace_back();
        for (const auto& bits : f32_run.params) {
          std::vector<float> values;
          for (const std::uint16_t b : bits) {
            const std::uint32_t u = std::uint32_t(b) << 16;
            float v;
            std::memcpy(&v, &u, 4);
            values.push_back(v);
          }
          masters.back().push_back(values);
        }
      } else {
        masters.push_back(f32_run.masters);
      }
    }
    std::vector<std::vector<double>> travelled;
    for (const auto& m : masters[0]) travelled.emplace_back(m.size(), 0.0);
    for (int steps = 1; steps <= 6; ++steps)
      for (std::size_t t = 0; t < travelled.size(); ++t)
        for (std::size_t i = 0; i < travelled[t].size(); ++i)
          travelled[t][i] += std::fabs(double(masters[std::size_t(steps)][t][i]) -
                                       masters[std::size_t(steps - 1)][t][i]);
    bf16_run = bf16_state_run(Executor::cpu, Impl::Fused, bf16_state, c, 6);
    ASSERT_EQ(bf16_run.masters.size(), f32_run.masters.size());
    // Lion steps by the sign of an interpolation of the momentum: where that is within the
    // state's rounding of zero the sign may flip, a whole lr step. Allowed for 2% of elements.
    const bool sign_based = c.name == "Lion";
    std::int64_t outside = 0, elements = 0;
    for (std::size_t t = 0; t < f32_run.masters.size(); ++t)
      for (std::size_t i = 0; i < f32_run.masters[t].size(); ++i) {
        ++elements;
        const bool close = std::fabs(double(bf16_run.masters[t][i]) - f32_run.masters[t][i]) <=
                           0.03 * travelled[t][i] + 1e-6;
        outside += !close;
        if (!sign_based)
          ASSERT_TRUE(close) << "tensor " << t << " element " << i << ": " << bf16_run.masters[t][i]
                             << " vs " << f32_run.masters[t][i] << ", travelled " << travelled[t][i];
      }
    EXPECT_LE(double(outside), 0.02 * double(elements));
  }
}

TEST(Bf16State, CheckpointsKeepBf16AndResumeBitIdentically) {
  Precision precision;
  precision.state_dtype = DType::bf16;
  precision.stochastic_rounding = true;
  precision.seed = 5;
  std::mt19937_64 rng(fresh_seed());
  Tensors a(DType::bf16, Device::cpu()), b(DType::bf16, Device::cpu());
  for (std::size_t k = 0; k < a.values.size(); ++k)
    a.values[k]->set(random_values(rng, kSizes[k], 1.0, DType::bf16));
  std::vector<std::vector<std::vector<double>>> grads(6);
  for (auto& step : grads)
    for (std::int64_t n : kSizes) step.push_back(random_values(rng, n, 0.5, DType::bf16));
  Adam full(a.params(), AdamOptions().lr(1e-3).amsgrad(true));
  full.set_precision(precision);
  std::vector<unsigned char> checkpoint;
  StateDict dict;
  for (int s = 0; s < 6; ++s) {
    if (s == 3) {
      checkpoint = full.save_bytes();
      dict = full.state_dict();
      for (std::size_t k = 0; k < a.values.size(); ++k) b.values[k]->set(a.values[k]->get());
    }
    for (std::size_t k = 0; k < a.values.size(); ++k) a.grads[k]->set(grads[std::size_t(s)][k]);
    full.step();
  }
  // The file holds the state as BF16: about half the bytes of the f32-state checkpoint.
  Adam f32_state(a.params(), AdamOptions().lr(1e-3).amsgrad(true));
  f32_state.load_state_dict(dict);  // precision from the state: bf16
  EXPECT_EQ(f32_state.precision(0).state_dtype, DType::bf16);
  Precision wide = precision;
  wide.state_dtype = DType::f32;
  f32_state.set_precision(wide);  // converts the state, exactly (bf16 -> f32)
  const std::size_t wide_bytes = f32_state.save_bytes().size();
  std::int64_t elements = 0;
  for (std::int64_t n : kSizes) elements += n;
  EXPECT_NEAR(double(wide_bytes) - double(checkpoint.size()), 3.0 * 2 * elements, 4096.0);
  EXPECT_EQ(f32_state.state_dict().state.at(1).tensors, dict.state.at(1).tensors);
  // Resumed from the file and from the state_dict: the same bits as the uninterrupted run.
  std::vector<std::vector<double>> at_checkpoint;
  for (const auto& v : b.values) at_checkpoint.push_back(v->get());
  for (int source = 0; source < 2; ++source) {
    SCOPED_TRACE(source == 0 ? "load_bytes" : "load_state_dict");
    for (std::size_t k = 0; k < b.values.size(); ++k) b.values[k]->set(at_checkpoint[k]);
    Adam resumed(b.params(), AdamOptions().lr(1e-3).amsgrad(true));
    if (source == 0)
      resumed.load_bytes(checkpoint.data(), checkpoint.size());
    else
      resumed.load_state_dict(dict);
    EXPECT_EQ(resumed.precision(0), precision);
    for (int s = 3; s < 6; ++s) {
      for (std::size_t k = 0; k < b.values.size(); ++k) b.grads[k]->set(grads[std::size_t(s)][k]);
      resumed.step();
    }
    for (std::size_t k = 0; k < a.values.size(); ++k) {
      EXPECT_EQ(bits16(*b.values[k]), bits16(*a.values[k]));
      for (const std::string& name : full.state_names(0))
        EXPECT_EQ(resumed.state(0, k, name), full.state(0, k, name)) << name;
    }
  }
}

TEST(Bf16State, ByteModelAndFp32ParametersKeepFp32State) {
  constexpr std::int64_t n = 1 << 12;
  GuardedTensor w(n, DType::bf16, Device::cpu()), g(n, DType::bf16, Device::cpu());
  GuardedTensor f(3, DType::f32, Device::cpu()), gf(3, DType::f32, Device::cpu());
  f.set({1, 1, 1});
  gf.set({0.3, 0.3, 0.3});
  AdamW opt({{w.view(), g.view()}});
  Precision precision;
  precision.state_dtype = DType::bf16;
  opt.set_precision(0, precision);
  EXPECT_EQ(opt.step_cost().bytes, 14.0 * n);  // p r/w 4, g 2, two bf16 states r/w 8
  precision.master_weights = true;
  opt.set_precision(0, precision);
  EXPECT_EQ(opt.step_cost().bytes, 20.0 * n);  // master r/w 8, g 2, p write 2, states 8
  AdamW mixed({{f.view(), gf.view()}});
  mixed.set_precision(0, precision);
  mixed.step();
  EXPECT_FALSE(is_bf16(mixed.state(0, 0, "exp_avg_sq")[0])) << "f32 parameters keep fp32 state";
  Precision bad;
  bad.state_dtype = DType::f16;
  EXPECT_THROW(opt.set_precision(0, bad), Error);
  EXPECT_EQ(opt.precision(0), precision);
}

TEST(PrecisionCuda, EveryModeGivesTheCpuExecutorsBits) {
  FUSEDOPT_SKIP_WITHOUT_DEVICE(Device::cuda(0));
  std::vector<Precision> modes(4);
  modes[0].stochastic_rounding = true;
  modes[0].seed = 3;
  modes[1].master_weights = true;
  modes[2].state_dtype = DType::bf16;
  modes[3] = modes[2];
  modes[3].master_weights = modes[3].stochastic_rounding = true;
  for (const OptimizerCase& c : all_optimizer_cases())
    for (std::size_t m = 0; m < modes.size(); ++m)
      for (const Impl impl : {Impl::Fused, Impl::Foreach}) {
        SCOPED_TRACE(c.name + " mode " + std::to_string(m) + " " + to_string(impl));
        EXPECT_TRUE(bf16_state_run(Executor::cuda, impl, modes[m], c) ==
                    bf16_state_run(Executor::cpu, impl, modes[m], c));
      }
}

}  // namespace
}  // namespace fusedopt::testing
