// LR schedulers against torch: every case of tests/golden/generate_schedulers.py (lr of each
// group, and momentum / beta1 where cycled, after construction and after every step) with
// relative tolerance 1e-12; the optimizer's own lr(g) against get_last_lr(); state_dict round
// trips; the training-loop order; the error contract.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"

namespace fusedopt::testing {
namespace {

struct GoldenSeries {
  const char* name;      // the case, as in generate_schedulers.py
  const char* quantity;  // "lr", "momentum", "beta1" or "metric"
  int group;             // -1 for "metric"
  std::vector<double> values;
};

#include "golden/schedulers.inc"

constexpr double kRtol = 1e-12;

bool close(double actual, double expected) {
  return std::abs(actual - expected) <= kRtol * std::abs(expected);
}

// ---- the optimizers the generator uses: two groups, lr 0.1 and 0.05 ------------------------

/// Host memory for two small parameters (4 and 3 elements) and their (zero) gradients.
struct Model {
  std::vector<float> w0 = std::vector<float>(4, 0.f), g0 = std::vector<float>(4, 0.f);
  std::vector<float> w1 = std::vector<float>(3, 0.f), g1 = std::vector<float>(3, 0.f);
  static Param param(std::vector<float>& w, std::vector<float>& g) {
    return {{w.data(), std::int64_t(w.size()), DType::f32, Device::cpu()},
            {g.data(), std::int64_t(g.size()), DType::f32, Device::cpu()}};
  }
  std::vector<Param> group0() { return {param(w0, g0)}; }
  std::vector<Param> group1() { return {param(w1, g1)}; }
};

enum class OptKind { sgd, sgd_no_momentum, adam };

std::unique_ptr<Optimizer> make_optimizer(OptKind kind, Model& m) {
  if (kind == OptKind::adam)
    return std::make_unique<Adam>(
        std::vector<Adam::Group>{{m.group0(), AdamOptions().lr(0.1)},
                                 {m.group1(), AdamOptions().lr(0.05)}},
        AdamOptions().lr(0.1).betas({0.9, 0.999}));
  const double momentum = kind == OptKind::sgd ? 0.9 : 0.0;
  return std::make_unique<SGD>(
      std::vector<SGD::Group>{{m.group0(), SGDOptions().lr(0.1)},
                              {m.group1(), SGDOptions().lr(0.05)}},
      SGDOptions().lr(0.1).momentum(momentum));
}

// The generator's lambdas.
double decay_095(std::int64_t e) { return std::pow(0.95, double(e)); }
double inverse(std::int64_t e) { return 1.0 / double(e + 1); }
double const_095(std::int64_t) { return 0.95; }
double const_09(std::int64_t) { return 0.9; }
double halve_every_4(std::int64_t e) { return e % 4 == 0 ? 0.5 : 1.0; }
double inverse_square(double x) { return 1 / (x * x); }
double decay_099(double x) { return std::pow(0.99, x); }

using Builder = std::function<std::shared_ptr<LRScheduler>(Optimizer&)>;

struct CaseSpec {
  OptKind opt = OptKind::sgd;
  Builder build;
  bool resumed = false;  // groups get initial_lr 0.2 and 0.08 before the scheduler is built
};

template <class S, class... Args>
Builder make(Args... args) {
  return [=](Optimizer& o) { return std::make_shared<S>(o, args...); };
}

using Mode = ReduceLROnPlateau::Mode;
using TMode = ReduceLROnPlateau::ThresholdMode;
using CMode = CyclicLR::Mode;
using Scale = CyclicLR::ScaleMode;
using AS = AnnealStrategy;
using Ptr = std::shared_ptr<LRScheduler>;
constexpr std::nullopt_t none = std::nullopt;
constexpr std::int64_t kSteps = kGoldenSteps;

/// The same cases as generate_schedulers.py, by name.
const std::map<std::string, CaseSpec>& cases() {
  static const std::map<std::string, CaseSpec> table = [] {
    std::map<std::string, CaseSpec> t;
    const OptKind sgd = OptKind::sgd, adam = OptKind::adam, sgd0 = OptKind::sgd_no_momentum;
    t["lambda_single"] = {sgd, make<LambdaLR>(LrLambda(decay_095))};
    t["lambda_per_group"] = {sgd, make<LambdaLR>(std::vector<LrLambda>{decay_095, inverse})};
    t["multiplicative_single"] = {sgd, make<MultiplicativeLR>(LrLambda(const_095))};
    t["multiplicative_per_group"] = {
        sgd, make<MultiplicativeLR>(std::vector<LrLambda>{const_09, halve_every_4})};
    t["step_3_half"] = {sgd, make<StepLR>(std::int64_t(3), 0.5)};
    t["step_default_gamma"] = {sgd, make<StepLR>(std::int64_t(7))};
    t["multistep_repeated"] = {sgd, make<MultiStepLR>(std::vector<std::int64_t>{3, 7, 7, 15}, 0.5)};
    t["multistep_default_gamma"] = {sgd, make<MultiStepLR>(std::vector<std::int64_t>{10, 20})};
    t["constant_default"] = {sgd, make<ConstantLR>()};
    t["constant_half_8"] = {sgd, make<ConstantLR>(0.5, std::int64_t(8))};
    t["constant_one"] = {sgd, make<ConstantLR>(1.0, std::int64_t(3))};
    t["linear_default"] = {sgd, make<LinearLR>()};
    t["linear_quarter"] = {sgd, make<LinearLR>(0.25, 0.75, std::int64_t(10))};
    t["linear_decay"] = {sgd, make<LinearLR>(1.0, 0.1, std::int64_t(20))};
    t["linear_to_zero"] = {sgd, make<LinearLR>(1.0, 0.0, std::int64_t(10))};
    t["exponential_decay"] = {sgd, make<ExponentialLR>(0.9)};
    t["exponential_growth"] = {sgd, make<ExponentialLR>(1.05)};
    t["polynomial_default"] = {sgd, make<PolynomialLR>()};
    t["polynomial_square"] = {sgd, make<PolynomialLR>(std::int64_t(20), 2.0)};
    t["polynomial_sqrt"] = {sgd, make<PolynomialLR>(std::int64_t(25), 0.5)};
    t["cosine_10"] = {sgd, make<CosineAnnealingLR>(std::int64_t(10))};
    t["cosine_7_eta_min"] = {sgd, make<CosineAnnealingLR>(std::int64_t(7), 0.01)};
    t["warm_restarts_5"] = {sgd, make<CosineAnnealingWarmRestarts>(std::int64_t(5))};
    t["warm_restarts_3_mult2"] = {
        sgd, make<CosineAnnealingWarmRestarts>(std::int64_t(3), std::int64_t(2), 0.001)};

    t["plateau_min_rel"] = {sgd, make<ReduceLROnPlateau>(Mode::min, 0.1, std::int64_t(2))};
    t["plateau_min_abs_cooldown"] = {
        sgd, make<ReduceLROnPlateau>(Mode::min, 0.5, std::int64_t(1), 0.05, TMode::abs,
                                     std::int64_t(2))};
    t["plateau_max_rel"] = {sgd, make<ReduceLROnPlateau>(Mode::max, 0.5, std::int64_t(1), 0.05)};
    t["plateau_max_abs_cooldown"] = {
        sgd, make<ReduceLROnPlateau>(Mode::max, 0.3, std::int64_t(0), 0.02, TMode::abs,
                                     std::int64_t(3))};
    t["plateau_min_lr_per_group"] = {
        sgd, make<ReduceLROnPlateau>(Mode::min, 0.2, std::int64_t(0), 1e-4, TMode::rel,
                                     std::int64_t(0), PerGroup{0.01, 0.002})};
    t["plateau_min_lr_scalar_eps"] = {
        sgd, make<ReduceLROnPlateau>(Mode::min, 0.9, std::int64_t(0), 1e-4, TMode::rel,
                                     std::int64_t(0), PerGroup(0.03), 0.006)};

    const CyclicLR::ScaleFn no_fn = nullptr;
    t["cyclic_triangular"] = {
        sgd, make<CyclicLR>(PerGroup{0.01, 0.005}, PerGroup{0.1, 0.05}, std::int64_t(4),
                            std::optional<std::int64_t>(6))};
    t["cyclic_triangular2"] = {
        sgd, make<CyclicLR>(PerGroup(0.01), PerGroup(0.1), std::int64_t(5),
                            std::optional<std::int64_t>(), CMode::triangular2)};
    t["cyclic_exp_range"] = {
        sgd, make<CyclicLR>(PerGroup(0.01), PerGroup(0.1), std::int64_t(3),
                            std::optional<std::int64_t>(5), CMode::exp_range, 0.97)};
    t["cyclic_adam_beta1"] = {
        adam, make<CyclicLR>(PerGroup(0.001), PerGroup(0.01), std::int64_t(4),
                             std::optional<std::int64_t>(), CMode::triangular, 1.0, no_fn,
                             Scale::cycle, true, PerGroup(0.85), PerGroup(0.95))};
    t["cyclic_no_momentum"] = {
        sgd0, make<CyclicLR>(PerGroup(0.01), PerGroup(0.1), std::int64_t(4),
                             std::optional<std::int64_t>(), CMode::triangular, 1.0, no_fn,
                             Scale::cycle, false)};
    t["cyclic_scale_fn_cycle"] = {
        sgd, make<CyclicLR>(PerGroup(0.01), PerGroup(0.1), std::int64_t(3),
                            std::optional<std::int64_t>(), CMode::triangular, 1.0,
                            CyclicLR::ScaleFn(inverse_square), Scale::cycle)};
    t["cyclic_scale_fn_iterations"] = {
        sgd, make<CyclicLR>(PerGroup(0.01), PerGroup(0.1), std::int64_t(3),
                            std::optional<std::int64_t>(2), CMode::triangular, 1.0,
                            CyclicLR::ScaleFn(decay_099), Scale::iterations)};
    t["cyclic_sawtooth_per_group_momentum"] = {
        sgd, make<CyclicLR>(PerGroup(0.02), PerGroup{0.2, 0.1}, std::int64_t(6),
                            std::optional<std::int64_t>(0), CMode::triangular, 1.0, no_fn,
                            Scale::cycle, true, PerGroup{0.8, 0.7}, PerGroup{0.9, 0.95})};

    using I = std::optional<std::int64_t>;
    t["onecycle_cos"] = {sgd, make<OneCycleLR>(PerGroup(0.1), I(kSteps))};
    t["onecycle_linear_per_group"] = {
        sgd, make<OneCycleLR>(PerGroup{0.2, 0.1}, I(kSteps + 1), I(), I(), 0.3, AS::linear)};
    t["onecycle_three_phase_cos"] = {
        sgd, make<OneCycleLR>(PerGroup(0.1), I(kSteps), I(), I(), 0.25, AS::cos, true,
                              PerGroup(0.85), PerGroup(0.95), 25.0, 1e4, true)};
    t["onecycle_three_phase_linear"] = {
        sgd, make<OneCycleLR>(PerGroup(0.1), I(kSteps + 1), I(), I(), 0.25, AS::linear, true,
                              PerGroup(0.85), PerGroup(0.95), 25.0, 1e4, true)};
    t["onecycle_epochs"] = {
        sgd, make<OneCycleLR>(PerGroup(0.1), I(), I(4), I(10), 0.4, AS::cos, true, PerGroup(0.85),
                              PerGroup(0.95), 10.0, 100.0)};
    t["onecycle_adam_beta1"] = {
        adam, make<OneCycleLR>(PerGroup(0.01), I(kSteps), I(), I(), 0.3, AS::cos, true,
                               PerGroup(0.8), PerGroup(0.9))};
    t["onecycle_no_momentum"] = {
        sgd0, make<OneCycleLR>(PerGroup(0.1), I(kSteps), I(), I(), 0.3, AS::cos, false)};

    t["swa_cos"] = {sgd, make<SWALR>(PerGroup(0.01), std::int64_t(10))};
    t["swa_linear_per_group"] = {sgd, make<SWALR>(PerGroup{0.02, 0.01}, std::int64_t(5), AS::linear)};
    t["swa_zero_epochs"] = {sgd, make<SWALR>(PerGroup(0.01), std::int64_t(0))};

    t["sequential_warmup_cosine"] = {sgd, [](Optimizer& o) -> Ptr {
      return std::make_shared<SequentialLR>(
          o, std::vector<Ptr>{std::make_shared<LinearLR>(o, 0.1, 1.0, 5),
                              std::make_shared<CosineAnnealingLR>(o, 30)},
          std::vector<std::int64_t>{5});
    }};
    t["sequential_three"] = {sgd, [](Optimizer& o) -> Ptr {
      return std::make_shared<SequentialLR>(
          o, std::vector<Ptr>{std::make_shared<ConstantLR>(o, 0.5, 3),
                              std::make_shared<ExponentialLR>(o, 0.9),
                              std::make_shared<StepLR>(o, 4, 0.5)},
          std::vector<std::int64_t>{6, 15});
    }};
    t["sequential_warm_restarts"] = {sgd, [](Optimizer& o) -> Ptr {
      return std::make_shared<SequentialLR>(
          o, std::vector<Ptr>{std::make_shared<LinearLR>(o, 0.2, 1.0, 4),
                              std::make_shared<CosineAnnealingWarmRestarts>(o, 6, 2)},
          std::vector<std::int64_t>{4});
    }};
    t["sequential_milestone_zero"] = {sgd, [](Optimizer& o) -> Ptr {
      return std::make_shared<SequentialLR>(
          o, std::vector<Ptr>{std::make_shared<ExponentialLR>(o, 0.9),
                              std::make_shared<MultiStepLR>(o, std::vector<std::int64_t>{3, 5})},
          std::vector<std::int64_t>{0});
    }};
    t["sequential_multiplicative_polynomial"] = {sgd, [](Optimizer& o) -> Ptr {
      return std::make_shared<SequentialLR>(
          o, std::vector<Ptr>{std::make_shared<MultiplicativeLR>(o, const_09),
                              std::make_shared<PolynomialLR>(o, 20, 2.0)},
          std::vector<std::int64_t>{8});
    }};
    t["sequential_chained_first"] = {sgd, [](Optimizer& o) -> Ptr {
      auto chained = std::make_shared<ChainedScheduler>(std::vector<Ptr>{
          std::make_shared<ConstantLR>(o, 0.5, 3), std::make_shared<ExponentialLR>(o, 0.95)});
      return std::make_shared<SequentialLR>(
          o, std::vector<Ptr>{chained, std::make_shared<CosineAnnealingLR>(o, 20, 0.001)},
          std::vector<std::int64_t>{10});
    }};
    t["chained_constant_exponential"] = {sgd, [](Optimizer& o) -> Ptr {
      return std::make_shared<ChainedScheduler>(std::vector<Ptr>{
          std::make_shared<ConstantLR>(o, 0.5, 4), std::make_shared<ExponentialLR>(o, 0.9)});
    }};
    t["chained_step_linear"] = {sgd, [](Optimizer& o) -> Ptr {
      return std::make_shared<ChainedScheduler>(std::vector<Ptr>{
          std::make_shared<StepLR>(o, 5, 0.5), std::make_shared<LinearLR>(o, 0.2, 1.0, 8)});
    }};

    const std::int64_t e2 = 2, e3 = 3, e4 = 4, e6 = 6, e5 = 5, e9 = 9;
    t["resume_lambda"] = {sgd, make<LambdaLR>(LrLambda(decay_095), e3), true};
    t["resume_multiplicative"] = {sgd, make<MultiplicativeLR>(LrLambda(const_09), e2), true};
    t["resume_step"] = {sgd, make<StepLR>(std::int64_t(3), 0.5, e4), true};
    t["resume_constant"] = {sgd, make<ConstantLR>(0.5, std::int64_t(5), e4), true};
    t["resume_linear"] = {sgd, make<LinearLR>(0.5, 1.0, std::int64_t(10), e3), true};
    t["resume_exponential"] = {sgd, make<ExponentialLR>(0.9, e4), true};
    t["resume_polynomial"] = {sgd, make<PolynomialLR>(std::int64_t(10), 2.0, e3), true};
    t["resume_cosine"] = {sgd, make<CosineAnnealingLR>(std::int64_t(10), 0.0, e4), true};
    t["resume_warm_restarts"] = {
        sgd, make<CosineAnnealingWarmRestarts>(std::int64_t(4), std::int64_t(2), 0.0, e6), true};
    t["resume_cyclic"] = {
        sgd,
        make<CyclicLR>(PerGroup(0.01), PerGroup(0.1), std::int64_t(4), std::optional<std::int64_t>(),
                       CMode::triangular, 1.0, no_fn, Scale::cycle, true, PerGroup(0.8),
                       PerGroup(0.9), e5),
        true};
    t["cyclic_existing_initial_lr"] = {
        sgd, make<CyclicLR>(PerGroup(0.01), PerGroup(0.1), std::int64_t(4)), true};
    t["resume_swalr"] = {sgd, make<SWALR>(PerGroup(0.01), std::int64_t(5), AS::cos, e3), true};
    t["resume_onecycle"] = {
        sgd,
        make<OneCycleLR>(PerGroup(0.1), I(kSteps + 10), I(), I(), 0.3, AS::cos, true,
                         PerGroup(0.85), PerGroup(0.95), 25.0, 1e4, false, e9),
        true};
    return t;
  }();
  return table;
}

/// One golden case: its series, by quantity and group.
struct Golden {
  std::map<std::pair<std::string, int>, const std::vector<double>*> series;
  std::string momentum;  // "momentum", "beta1" or empty
  const std::vector<double>* metrics = nullptr;
};

Golden golden(const std::string& name) {
  Golden g;
  for (const GoldenSeries& s : kGoldenSeries) {
    if (name != s.name) continue;
    const std::string quantity = s.quantity;
    if (quantity == "metric") {
      g.metrics = &s.values;
    } else {
      g.series[{quantity, s.group}] = &s.values;
      if (quantity != "lr") g.momentum = quantity;
    }
  }
  return g;
}

std::vector<std::string> golden_case_names() {
  std::vector<std::string> names;
  for (const GoldenSeries& s : kGoldenSeries)
    if (names.empty() || names.back() != s.name) names.push_back(s.name);
  return names;
}

/// A case built over a fresh fusedopt optimizer.
struct CaseRun {
  std::unique_ptr<Model> model = std::make_unique<Model>();
  std::unique_ptr<Optimizer> opt;
  std::shared_ptr<LRScheduler> sched;
  const std::vector<double>* metrics = nullptr;

  explicit CaseRun(const std::string& name) {
    const CaseSpec& spec = cases().at(name);
    opt = make_optimizer(spec.opt, *model);
    if (spec.resumed) {
      opt->set_initial_lr(0, 0.2);
      opt->set_initial_lr(1, 0.08);
    }
    sched = spec.build(*opt);
    metrics = golden(name).metrics;
  }
  /// Iteration i (0-based): optimizer.step(), then scheduler.step().
  void step(std::size_t i) {
    opt->step();
    if (metrics != nullptr)
      static_cast<ReduceLROnPlateau&>(*sched).step((*metrics)[i]);
    else
      sched->step();
  }
};

// ---- golden sequences ------------------------------------------------------------------------

class SchedulerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SchedulerGolden, MatchesTorch) {
  const std::string name = GetParam();
  ASSERT_TRUE(cases().count(name)) << "no C++ case for golden case " << name;
  const Golden g = golden(name);
  CaseRun run(name);
  const std::size_t groups = run.opt->num_param_groups();
  ASSERT_EQ(groups, 2u);
  std::size_t exact = 0, total = 0;
  auto check = [&](std::size_t index) {
    for (std::size_t grp = 0; grp < groups; ++grp) {
      const double lr = run.opt->lr(grp);
      ASSERT_EQ(run.sched->get_last_lr().size(), groups);
      EXPECT_EQ(run.sched->get_last_lr()[grp], lr) << name << " index " << index;
      const double want = g.series.at({"lr", int(grp)})->at(index);
      EXPECT_TRUE(close(lr, want)) << name << " lr group " << grp << " index " << index << ": got "
                                   << lr << ", torch " << want;
      exact += lr == want;
      ++total;
      if (!g.momentum.empty()) {
        const double m = run.opt->get(grp, g.momentum);
        const double want_m = g.series.at({g.momentum, int(grp)})->at(index);
        EXPECT_TRUE(close(m, want_m)) << name << " " << g.momentum << " group " << grp
                                      << " index " << index << ": got " << m << ", torch "
                                      << want_m;
        exact += m == want_m;
        ++total;
      }
    }
  };
  check(0);
  for (std::size_t i = 0; i < std::size_t(kGoldenSteps); ++i) {
    run.step(i);
    check(i + 1);
  }
  RecordProperty("bit_exact", std::to_string(exact) + "/" + std::to_string(total));
}

INSTANTIATE_TEST_SUITE_P(SchedulerTorch, SchedulerGolden, ::testing::ValuesIn(golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(SchedulerGoldenData, EveryCppCaseHasTorchValues) {
  const std::vector<std::string> names = golden_case_names();
  const std::set<std::string> golden_names(names.begin(), names.end());
  EXPECT_EQ(golden_names.size(), names.size()) << "a case's series are not contiguous";
  for (const auto& [name, spec] : cases()) EXPECT_TRUE(golden_names.count(name)) << name;
  EXPECT_EQ(std::string(kGoldenTorchVersion).rfind("2.", 0), 0u) << kGoldenTorchVersion;
}

// ---- state_dict round trip -------------------------------------------------------------------

class SchedulerRoundTrip : public ::testing::TestWithParam<std::string> {};

/// Saves after k steps, loads into a fresh scheduler over a fresh optimizer (restoring the
/// optimizer's lr and momentum, as its own checkpoint would), and continues both: identical.
TEST_P(SchedulerRoundTrip, RoundTripContinuesIdentically) {
  const std::string name = GetParam();
  const Golden g = golden(name);
  for (std::size_t k : {std::size_t(0), std::size_t(1), std::size_t(13)}) {
    CaseRun a(name);
    for (std::size_t i = 0; i < k; ++i) a.step(i);
    const fusedopt::SchedulerState saved = a.sched->state_dict();
    EXPECT_EQ(saved.at("_last_lr"), a.sched->get_last_lr());

    CaseRun b(name);
    for (std::size_t grp = 0; grp < 2; ++grp) {
      b.opt->set_lr(grp, a.opt->lr(grp));
      if (!g.momentum.empty()) b.opt->set(grp, g.momentum, a.opt->get(grp, g.momentum));
    }
    b.sched->load_state_dict(saved);
    EXPECT_EQ(b.sched->state_dict(), saved) << name << " after " << k << " steps";
    {  // and through its file
      const std::string path = ::testing::TempDir() + "fusedopt_sched_" + name + "_" +
                               std::to_string(::getpid()) + ".safetensors";
      a.sched->save(path);
      CaseRun c(name);
      c.sched->load(path);
      std::remove(path.c_str());
      EXPECT_EQ(c.sched->state_dict(), saved) << name << " from its file";
    }
    EXPECT_EQ(b.sched->last_epoch(), a.sched->last_epoch());
    EXPECT_EQ(b.sched->get_last_lr(), a.sched->get_last_lr());
    for (std::size_t i = k; i < std::size_t(kGoldenSteps); ++i) {
      a.step(i);
      b.step(i);
      for (std::size_t grp = 0; grp < 2; ++grp) {
        ASSERT_EQ(b.opt->lr(grp), a.opt->lr(grp)) << name << " k " << k << " step " << i;
        if (!g.momentum.empty()) {
          ASSERT_EQ(b.opt->get(grp, g.momentum), a.opt->get(grp, g.momentum)) << name;
        }
      }
      ASSERT_EQ(b.sched->state_dict(), a.sched->state_dict()) << name << " step " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SchedulerTorch, SchedulerRoundTrip, ::testing::ValuesIn(golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

/// A scheduler's file loads only into a scheduler of its kind; a damaged or foreign file is
/// refused with the scheduler unchanged.
TEST(SchedulerFile, RefusesOtherKindsAndDamagedFiles) {
  Model m;
  auto opt = make_optimizer(OptKind::sgd, m);
  StepLR step(*opt, 3, 0.5);
  step.step();
  const std::string path =
      ::testing::TempDir() + "fusedopt_sched_file_" + std::to_string(::getpid()) + ".safetensors";
  step.save(path);
  ExponentialLR exponential(*opt, 0.9);
  const fusedopt::SchedulerState before = exponential.state_dict();
  const auto expect_refused = [&](const std::string& message) {
    try {
      exponential.load(path);
      ADD_FAILURE() << "loaded; expected " << message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_EQ(exponential.state_dict(), before);
  };
  expect_refused("the state is of a \"StepLR\", not a ExponentialLR");
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (std::size_t cut : {std::size_t(0), std::size_t(9), bytes.size() - 1}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(cut));
    expect_refused("load(");
  }
  opt->save(path);  // an optimizer's file
  expect_refused("format \"fusedopt.optimizer\" is not \"fusedopt.scheduler\"");
  std::remove(path.c_str());
  EXPECT_THROW(exponential.load(path), Error);  // no file
}

TEST(SchedulerStateDict, HasTorchKeys) {
  Model m;
  auto opt = make_optimizer(OptKind::sgd, m);
  StepLR step(*opt, 3, 0.5);
  const fusedopt::SchedulerState s = step.state_dict();
  for (const char* key : {"last_epoch", "_step_count", "base_lrs", "_last_lr", "step_size", "gamma"})
    EXPECT_TRUE(s.count(key)) << key;
  EXPECT_EQ(s.at("step_size"), std::vector<double>{3});
  EXPECT_EQ(s.at("base_lrs"), (std::vector<double>{0.1, 0.05}));
  EXPECT_EQ(s.at("last_epoch"), std::vector<double>{0});
  EXPECT_EQ(s.at("_step_count"), std::vector<double>{1});

  auto seq = CaseRun("sequential_warmup_cosine");
  const fusedopt::SchedulerState q = seq.sched->state_dict();
  EXPECT_TRUE(q.count("_milestones"));
  EXPECT_TRUE(q.count("_schedulers.0.start_factor"));
  EXPECT_TRUE(q.count("_schedulers.1.T_max"));
}

TEST(SchedulerStateDict, LoadRejectsBadStateAndKeepsTheScheduler) {
  Model m;
  auto opt = make_optimizer(OptKind::sgd, m);
  StepLR sched(*opt, 3, 0.5);
  sched.step();
  const fusedopt::SchedulerState before = sched.state_dict();

  auto expect_rejected = [&](fusedopt::SchedulerState bad, const char* needle) {
    try {
      sched.load_state_dict(bad);
      ADD_FAILURE() << "accepted a state with " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_EQ(sched.state_dict(), before);
  };
  fusedopt::SchedulerState missing = before;
  missing.erase("gamma");
  expect_rejected(missing, "lacks \"gamma\"");
  fusedopt::SchedulerState wrong_size = before;
  wrong_size["base_lrs"] = {0.1};
  expect_rejected(wrong_size, "state_dict[\"base_lrs\"] has 1 value(s), expected 2");
  fusedopt::SchedulerState bad_value = before;
  bad_value["step_size"] = {0};
  bad_value["last_epoch"] = {7};  // loaded before the bad field is found: must be rolled back
  expect_rejected(bad_value, "StepLR: step_size must be > 0, got 0");
  fusedopt::SchedulerState fractional = before;
  fractional["last_epoch"] = {1.5};
  expect_rejected(fractional, "must be an integer, got 1.5");

  auto seq = CaseRun("sequential_three");
  fusedopt::SchedulerState child_bad = seq.sched->state_dict();
  const fusedopt::SchedulerState seq_before = child_bad;
  child_bad["_schedulers.2.gamma"] = {-1};
  EXPECT_THROW(seq.sched->load_state_dict(child_bad), Error);
  EXPECT_EQ(seq.sched->state_dict(), seq_before);
}

// ---- training loop ---------------------------------------------------------------------------

/// optimizer.step() for every batch, scheduler.step() once per epoch: each epoch's steps use
/// that epoch's lr (the device scalar the step reads), as torch's documented loop.
TEST(SchedulerLoop, OptimizerStepPerBatchSchedulerStepPerEpoch) {
  const Golden g = golden("sequential_warmup_cosine");
  std::vector<float> w0(5, 1.f), g0(5, 1.f), w1(2, 1.f), g1(2, 1.f);
  SGD opt({{{Model::param(w0, g0)}, SGDOptions().lr(0.1)}, {{Model::param(w1, g1)}, SGDOptions().lr(0.05)}},
          SGDOptions().lr(0.1));  // no momentum: each step moves w by exactly -lr * 1
  auto warmup = std::make_shared<LinearLR>(opt, 0.1, 1.0, 5);
  auto cosine = std::make_shared<CosineAnnealingLR>(opt, 30);
  SequentialLR sched(opt, {warmup, cosine}, {5});
  constexpr int kEpochs = 12, kBatches = 3;
  float expect0 = 1.f, expect1 = 1.f;
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    const double lr0 = g.series.at({"lr", 0})->at(epoch), lr1 = g.series.at({"lr", 1})->at(epoch);
    EXPECT_TRUE(close(opt.lr(0), lr0)) << epoch;
    EXPECT_TRUE(close(opt.lr(1), lr1)) << epoch;
    for (int batch = 0; batch < kBatches; ++batch) {
      opt.zero_grad();
      std::fill(g0.begin(), g0.end(), 1.f);  // "backward"
      std::fill(g1.begin(), g1.end(), 1.f);
      opt.step();
      expect0 = expect0 - float(opt.lr(0)) * 1.f;
      expect1 = expect1 - float(opt.lr(1)) * 1.f;
    }
    sched.step();
  }
  for (float w : w0) EXPECT_NEAR(w, expect0, 1e-6f);
  for (float w : w1) EXPECT_NEAR(w, expect1, 1e-6f);
  EXPECT_EQ(sched.last_epoch(), kEpochs);
  EXPECT_LT(w0[0], 1.f - 0.5f);  // it trained with the scheduled lrs
}

TEST(SchedulerLoop, WarmupThenCosineShape) {
  SCOPED_TRACE("the example's schedule: LinearLR warmup then CosineAnnealingLR");
  Model m;
  auto opt = make_optimizer(OptKind::sgd, m);
  auto warmup = std::make_shared<LinearLR>(*opt, 0.1, 1.0, 5);
  auto cosine = std::make_shared<CosineAnnealingLR>(*opt, 30);
  SequentialLR sched(*opt, {warmup, cosine}, {5});
  EXPECT_NEAR(opt->lr(0), 0.01, 1e-15);
  std::vector<double> lrs{opt->lr(0)};
  for (int i = 0; i < 35; ++i) {
    opt->step();
    sched.step();
    lrs.push_back(opt->lr(0));
  }
  for (int i = 1; i <= 5; ++i) EXPECT_GT(lrs[i], lrs[i - 1]) << i;  // warm-up
  EXPECT_NEAR(lrs[5], 0.1, 1e-15);                                   // peak at the milestone
  for (int i = 6; i <= 35; ++i) EXPECT_LT(lrs[i], lrs[i - 1]) << i;  // cosine decay
  EXPECT_NEAR(lrs[35], 0.0, 1e-15);
  EXPECT_EQ(sched.base_lrs(), (std::vector<double>{0.1, 0.05}));
  EXPECT_EQ(opt->initial_lr(0), 0.1);
}

// ---- errors ----------------------------------------------------------------------------------

/// Hyper-parameters a scheduler may touch, to check that a failed call changed nothing.
struct Snapshot {
  std::vector<double> lr, momentum;
  std::vector<std::optional<double>> initial_lr;
  explicit Snapshot(const Optimizer& o) {
    for (std::size_t g = 0; g < o.num_param_groups(); ++g) {
      lr.push_back(o.lr(g));
      momentum.push_back(o.has("momentum") ? o.get(g, "momentum")
                                           : o.has("beta1") ? o.get(g, "beta1") : 0.0);
      initial_lr.push_back(o.initial_lr(g));
    }
  }
  bool operator==(const Snapshot& s) const {
    return lr == s.lr && momentum == s.momentum && initial_lr == s.initial_lr;
  }
};

/// Runs `f`, expects fusedopt::Error whose message contains every needle, and that `opt` is
/// unchanged.
void expect_error(const Optimizer& opt, const std::function<void()>& f,
                  std::initializer_list<const char*> needles) {
  const Snapshot before(opt);
  try {
    f();
    ADD_FAILURE() << "did not throw";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const char* needle : needles)
      EXPECT_NE(message.find(needle), std::string::npos)
          << "message \"" << message << "\" lacks \"" << needle << "\"";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-fusedopt exception: " << e.what();
  }
  EXPECT_TRUE(Snapshot(opt) == before) << "the optimizer changed";
}

struct SchedulerErrors : ::testing::Test {
  Model m;
  std::unique_ptr<Optimizer> sgd = make_optimizer(OptKind::sgd, m);
  Model m0;
  std::unique_ptr<Optimizer> sgd0 = make_optimizer(OptKind::sgd_no_momentum, m0);
  Model ma;
  std::unique_ptr<Optimizer> adam = make_optimizer(OptKind::adam, ma);
  Optimizer& o = *sgd;
};

TEST_F(SchedulerErrors, StepLR) {
  expect_error(o, [&] { StepLR(o, -1); }, {"StepLR: step_size must be > 0, got -1"});
  expect_error(o, [&] { StepLR(o, 0); }, {"step_size", "got 0"});
  expect_error(o, [&] { StepLR(o, 3, 0.0); }, {"StepLR: gamma must be finite and > 0, got 0"});
  expect_error(o, [&] { StepLR(o, 3, std::nan("")); }, {"gamma", "nan"});
}

TEST_F(SchedulerErrors, MultiStepLR) {
  expect_error(o, [&] { MultiStepLR(o, {5, 3}); },
               {"MultiStepLR: milestones must be sorted", "milestones[1] = 3", "= 5"});
  expect_error(o, [&] { MultiStepLR(o, {-2, 3}); }, {"milestones[0] must be >= 0, got -2"});
  expect_error(o, [&] { MultiStepLR(o, {2}, -0.5); }, {"MultiStepLR: gamma", "got -0.5"});
}

TEST_F(SchedulerErrors, ConstantAndLinear) {
  expect_error(o, [&] { ConstantLR(o, 1.5); }, {"ConstantLR: factor must be in (0, 1], got 1.5"});
  expect_error(o, [&] { ConstantLR(o, 0.0); }, {"ConstantLR: factor", "got 0"});
  expect_error(o, [&] { ConstantLR(o, 0.5, 0); }, {"ConstantLR: total_iters must be > 0, got 0"});
  expect_error(o, [&] { LinearLR(o, 0.0); }, {"LinearLR: start_factor must be in (0, 1], got 0"});
  expect_error(o, [&] { LinearLR(o, 1.5); }, {"start_factor", "got 1.5"});
  expect_error(o, [&] { LinearLR(o, 0.5, -0.1); }, {"LinearLR: end_factor must be in [0, 1], got -0.1"});
  expect_error(o, [&] { LinearLR(o, 0.5, 1.0, -3); }, {"LinearLR: total_iters must be > 0, got -3"});
}

TEST_F(SchedulerErrors, ExponentialPolynomial) {
  expect_error(o, [&] { ExponentialLR(o, 0.0); }, {"ExponentialLR: gamma", "got 0"});
  expect_error(o, [&] { ExponentialLR(o, -1.0); }, {"ExponentialLR: gamma", "got -1"});
  expect_error(o, [&] { PolynomialLR(o, 0); }, {"PolynomialLR: total_iters must be > 0, got 0"});
  expect_error(o, [&] { PolynomialLR(o, 5, -1.0); }, {"PolynomialLR: power", "got -1"});
}

TEST_F(SchedulerErrors, Cosine) {
  expect_error(o, [&] { CosineAnnealingLR(o, 0); }, {"CosineAnnealingLR: T_max must be > 0, got 0"});
  expect_error(o, [&] { CosineAnnealingLR(o, -3); }, {"T_max", "got -3"});
  expect_error(o, [&] { CosineAnnealingLR(o, 10, -0.1); }, {"eta_min", "got -0.1"});
  expect_error(o, [&] { CosineAnnealingWarmRestarts(o, 0); },
               {"CosineAnnealingWarmRestarts: T_0 must be > 0, got 0"});
  expect_error(o, [&] { CosineAnnealingWarmRestarts(o, 5, 0); }, {"T_mult must be >= 1, got 0"});
  expect_error(o, [&] { CosineAnnealingWarmRestarts(o, 5, 1, -1.0); }, {"eta_min", "got -1"});
}

TEST_F(SchedulerErrors, Lambdas) {
  expect_error(o, [&] { LambdaLR(o, std::vector<LrLambda>{decay_095, decay_095, decay_095}); },
               {"LambdaLR: expected 2 lr_lambdas", "got 3"});
  expect_error(o, [&] { LambdaLR(o, LrLambda()); }, {"LambdaLR: lr_lambda is an empty std::function"});
  expect_error(o, [&] { MultiplicativeLR(o, std::vector<LrLambda>{decay_095, LrLambda()}); },
               {"MultiplicativeLR: lr_lambdas[1] is an empty std::function"});
}

TEST_F(SchedulerErrors, ReduceLROnPlateau) {
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 1.0); },
               {"ReduceLROnPlateau: factor must be in (0, 1), got 1"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 0.0); }, {"factor", "got 0"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 0.1, -1); }, {"patience must be >= 0, got -1"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 0.1, 10, -1e-4); }, {"threshold", "got -0.0001"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 0.1, 10, 1e-4, TMode::rel, -2); },
               {"cooldown must be >= 0, got -2"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 0.1, 10, 1e-4, TMode::rel, 0, {0.1, 0.1, 0.1}); },
               {"ReduceLROnPlateau: min_lr has 3 value(s) but the optimizer has 2 param group(s)"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 0.1, 10, 1e-4, TMode::rel, 0, -1.0); },
               {"min_lr", "got -1"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode::min, 0.1, 10, 1e-4, TMode::rel, 0, 0.0, -1.0); },
               {"eps", "got -1"});
  expect_error(o, [&] { ReduceLROnPlateau(o, Mode(7)); }, {"mode must be", "got 7"});
  ReduceLROnPlateau plateau(o);
  expect_error(o, [&] { plateau.step(); }, {"ReduceLROnPlateau: step() needs the metric"});
}

TEST_F(SchedulerErrors, CyclicLR) {
  expect_error(o, [&] { CyclicLR(o, {0.1, 0.1, 0.1}, 1.0); },
               {"CyclicLR: base_lr has 3 value(s) but the optimizer has 2 param group(s)"});
  expect_error(o, [&] { CyclicLR(o, 0.1, {1.0}); }, {"CyclicLR: max_lr has 1 value(s)"});
  expect_error(o, [&] { CyclicLR(o, -0.1, 1.0); }, {"CyclicLR: base_lr[0] must be finite and >= 0, got -0.1"});
  expect_error(o, [&] { CyclicLR(o, 0.1, 1.0, 0); }, {"CyclicLR: step_size_up must be >= 1, got 0"});
  expect_error(o, [&] { CyclicLR(o, 0.1, 1.0, 4, -1); }, {"step_size_down must be >= 0, got -1"});
  expect_error(o, [&] { CyclicLR(o, 0.1, 1.0, 4, {}, CMode::exp_range, 0.0); }, {"CyclicLR: gamma", "got 0"});
  Model mg;
  Adagrad adagrad({Model::param(mg.w0, mg.g0)});
  expect_error(adagrad, [&] { CyclicLR(adagrad, 0.1, 1.0); },
               {"CyclicLR: cycle_momentum = true needs an optimizer with momentum or beta1",
                "Adagrad has neither"});
  EXPECT_NO_THROW(CyclicLR(adagrad, 0.1, 1.0, 4, {}, CMode::triangular, 1.0, nullptr,
                           Scale::cycle, false));
  expect_error(*sgd0, [&] { CyclicLR(*sgd0, 0.1, 1.0); },
               {"param_groups[0] to have momentum != 0", "cycle_momentum = false"});
  expect_error(*adam, [&] {
    CyclicLR(*adam, 0.1, 1.0, 4, {}, CMode::triangular, 1.0, nullptr, Scale::cycle, true, 0.8, 1.0);
  }, {"CyclicLR: max_momentum[0] (beta1) must be < 1, got 1"});
  expect_error(o, [&] {
    CyclicLR(o, 0.1, 1.0, 4, {}, CMode::triangular, 1.0, nullptr, Scale::cycle, true, {0.8, 0.8, 0.8});
  }, {"base_momentum has 3 value(s)"});
}

TEST_F(SchedulerErrors, OneCycleLR) {
  using I = std::optional<std::int64_t>;
  expect_error(o, [&] { OneCycleLR(o, 0.1, I(0)); }, {"OneCycleLR: total_steps must be > 0, got 0"});
  expect_error(o, [&] { OneCycleLR(o, 0.1); },
               {"OneCycleLR: pass total_steps, or both epochs and steps_per_epoch"});
  expect_error(o, [&] { OneCycleLR(o, 0.1, I(), I(3)); }, {"steps_per_epoch = none"});
  expect_error(o, [&] { OneCycleLR(o, 0.1, I(), I(0), I(10)); }, {"epochs must be > 0, got 0"});
  expect_error(o, [&] { OneCycleLR(o, 0.1, I(), I(2), I(-1)); }, {"steps_per_epoch must be > 0, got -1"});
  expect_error(o, [&] { OneCycleLR(o, 0.1, I(100), I(), I(), 1.5); }, {"pct_start must be in [0, 1], got 1.5"});
  expect_error(o, [&] { OneCycleLR(o, {0.1, 0.1, 0.1}, I(100)); }, {"OneCycleLR: max_lr has 3 value(s)"});
  expect_error(o, [&] {
    OneCycleLR(o, 0.1, I(100), I(), I(), 0.3, AS::cos, true, 0.85, 0.95, 0.0);
  }, {"OneCycleLR: div_factor", "got 0"});
  expect_error(o, [&] {
    OneCycleLR(o, 0.1, I(100), I(), I(), 0.3, AS::cos, true, 0.85, 0.95, 25.0, -1.0);
  }, {"final_div_factor", "got -1"});
  // pct_start * total_steps = 1: torch divides by zero in the first phase.
  expect_error(o, [&] { OneCycleLR(o, 0.1, I(10), I(), I(), 0.1); },
               {"OneCycleLR: step 0 falls in phase 1", "zero length"});
}

TEST_F(SchedulerErrors, OneCycleLRSteppedPastTotalSteps) {
  OneCycleLR sched(o, 0.1, std::int64_t(5));
  for (int i = 0; i < 5; ++i) sched.step();  // last_epoch 5 == total_steps is still allowed
  EXPECT_EQ(sched.last_epoch(), 5);
  const fusedopt::SchedulerState before = sched.state_dict();
  expect_error(o, [&] { sched.step(); },
               {"OneCycleLR: tried to step 6 times, beyond total_steps = 5"});
  EXPECT_EQ(sched.last_epoch(), 5);  // unlike torch, the failed step is undone
  EXPECT_EQ(sched.state_dict(), before);
}

TEST_F(SchedulerErrors, OneCycleLRLinearExtrapolatesToANegativeLr) {
  // torch allows one step more than the schedule (last_epoch == total_steps); with linear
  // annealing that extrapolates below min_lr, to a negative lr, which torch writes into the
  // param group and fusedopt refuses.
  OneCycleLR sched(o, 0.1, std::int64_t(10), {}, {}, 0.3, AS::linear);
  for (int i = 0; i < 9; ++i) sched.step();
  EXPECT_NEAR(o.lr(0), 0.1 / 25 / 1e4, 1e-16);  // the end of the schedule: min_lr
  expect_error(o, [&] { sched.step(); },
               {"OneCycleLR: the schedule gives lr = -", "at last_epoch = 10"});
  EXPECT_EQ(sched.last_epoch(), 9);
}

TEST_F(SchedulerErrors, SWALR) {
  expect_error(o, [&] { SWALR(o, 0.01, -1); }, {"SWALR: anneal_epochs must be >= 0, got -1"});
  expect_error(o, [&] { SWALR(o, -0.01); }, {"SWALR: swa_lr[0] must be finite and >= 0, got -0.01"});
  expect_error(o, [&] { SWALR(o, {0.01}); }, {"SWALR: swa_lr has 1 value(s) but the optimizer has 2"});
}

TEST_F(SchedulerErrors, SequentialLR) {
  auto a = std::make_shared<ExponentialLR>(o, 0.9);
  auto b = std::make_shared<StepLR>(o, 3);
  expect_error(o, [&] { SequentialLR(o, {}, {}); }, {"SequentialLR: expects at least one scheduler"});
  expect_error(o, [&] { SequentialLR(o, {a, b}, {}); },
               {"expects one milestone fewer than schedulers", "2 scheduler(s) and 0 milestone(s)"});
  auto c = std::make_shared<ConstantLR>(o);
  expect_error(o, [&] { SequentialLR(o, {a, b, c}, {5, 3}); },
               {"milestones must be strictly increasing", "milestones[1] = 3"});
  expect_error(o, [&] { SequentialLR(o, {a, b}, {-1}); }, {"milestones[0] must be >= 0, got -1"});
  expect_error(o, [&] { SequentialLR(o, {a, nullptr}, {3}); }, {"schedulers[1] is null"});
  expect_error(o, [&] { SequentialLR(o, {a, a}, {3}); }, {"schedulers[1] is schedulers[0] again"});
  auto other = std::make_shared<ExponentialLR>(*sgd0, 0.9);
  expect_error(o, [&] { SequentialLR(o, {a, other}, {3}); },
               {"schedulers[1] (ExponentialLR) belongs to a different optimizer"});
  auto plateau = std::make_shared<ReduceLROnPlateau>(o);
  expect_error(o, [&] { SequentialLR(o, {a, plateau}, {3}); },
               {"schedulers[1] is a ReduceLROnPlateau, which is not supported"});
  auto chained = std::make_shared<ChainedScheduler>(std::vector<Ptr>{c});
  expect_error(o, [&] { SequentialLR(o, {a, chained}, {3}); },
               {"schedulers[1] is a ChainedScheduler; a composite can only come first"});
}

TEST_F(SchedulerErrors, ChainedScheduler) {
  expect_error(o, [&] { ChainedScheduler({}); }, {"ChainedScheduler: expects at least one scheduler"});
  expect_error(o, [&] { ChainedScheduler({}, &o); }, {"ChainedScheduler: expects at least one scheduler"});
  auto a = std::make_shared<ExponentialLR>(o, 0.9);
  auto other = std::make_shared<ExponentialLR>(*sgd0, 0.9);
  expect_error(o, [&] { ChainedScheduler({a, other}); }, {"schedulers[1] (ExponentialLR) belongs to a different optimizer"});
  expect_error(o, [&] { ChainedScheduler({nullptr}); }, {"schedulers[0] is null"});
  auto plateau = std::make_shared<ReduceLROnPlateau>(o);
  expect_error(o, [&] { ChainedScheduler({a, plateau}); }, {"ReduceLROnPlateau, which is not supported"});
}

TEST_F(SchedulerErrors, LastEpoch) {
  // Resuming (last_epoch >= 0) needs initial_lr in every group, as torch.
  expect_error(o, [&] { StepLR(o, 3, 0.1, 5); },
               {"StepLR: last_epoch = 5 resumes a schedule", "param_groups[0] has none"});
  expect_error(o, [&] { ExponentialLR(o, 0.9, -2); }, {"ExponentialLR: last_epoch must be >= -1, got -2"});
  auto child = std::make_shared<ExponentialLR>(o, 0.9);
  expect_error(o, [&] { SequentialLR(o, {child}, {}, -3); },
               {"SequentialLR: last_epoch must be >= -1, got -3"});
}

TEST_F(SchedulerErrors, FailedConstructorLeavesOptimizerUntouched) {
  // The initial step fails after lrs would have been written: nothing may remain, not even
  // the initial_lr a successful constructor would have set.
  auto bad = [](double x) { return x > 0 ? std::nan("") : 1.0; };
  expect_error(o, [&] {
    CyclicLR(o, 0.01, 0.1, 4, {}, CMode::triangular, 1.0, bad, Scale::cycle, true, 0.8, 0.85);
  }, {"CyclicLR: the schedule gives", "= nan for param_groups[0] at last_epoch = 0"});
  EXPECT_FALSE(o.initial_lr(0).has_value());
  EXPECT_EQ(o.get(0, "momentum"), 0.9);
  // A lambda that throws: its exception propagates, the optimizer is untouched.
  EXPECT_THROW(LambdaLR(o, [](std::int64_t) -> double { throw std::runtime_error("user"); }),
               std::runtime_error);
  EXPECT_FALSE(o.initial_lr(1).has_value());
}

TEST_F(SchedulerErrors, FailedStepIsUndone) {
  // Group 1's lambda turns negative at epoch 3; group 0 must not keep its new lr.
  LambdaLR sched(o, std::vector<LrLambda>{decay_095, [](std::int64_t e) { return 3.0 - double(e); }});
  for (int i = 0; i < 3; ++i) sched.step();  // epoch 3 gives lr 0, which is fine
  EXPECT_EQ(o.lr(1), 0.0);
  const fusedopt::SchedulerState at3 = sched.state_dict();
  expect_error(o, [&] { sched.step(); },
               {"LambdaLR: the schedule gives lr = -0.050000000000000003 for param_groups[1] at "
                "last_epoch = 4; an lr must be finite and >= 0"});
  EXPECT_EQ(sched.state_dict(), at3);
  EXPECT_EQ(sched.last_epoch(), 3);
}

TEST_F(SchedulerErrors, CycledMomentumRejectedByOptimizerIsUndone) {
  // A custom scale_fn > 1 drives the momentum below 0 at the peak: SGD rejects it, the step
  // is undone (lr and momentum of every group), and the error is the optimizer's.
  CyclicLR sched(o, 0.01, 0.1, 2, {}, CMode::triangular, 1.0, [](double) { return 20.0; },
                 Scale::cycle, true, 0.8, 0.9);
  const Snapshot before(o);
  const auto state = sched.state_dict();
  EXPECT_THROW(sched.step(), Error);
  EXPECT_TRUE(Snapshot(o) == before);
  EXPECT_EQ(sched.state_dict(), state);
}

TEST_F(SchedulerErrors, GroupAddedAfterTheSchedulerKeepsItsLr) {
  // NOTE(scheduler-groups): schedulers from base_lrs and chainable ones alike leave it alone.
  LambdaLR lambda(o, decay_095);
  StepLR chainable(o, 1, 0.5);
  std::vector<float> w(2), g(2);
  static_cast<SGD&>(o).add_param_group({{Model::param(w, g)}, SGDOptions().lr(0.3)});
  lambda.step();
  EXPECT_EQ(lambda.last_epoch(), 1);
  EXPECT_EQ(lambda.get_last_lr().size(), 2u);
  chainable.step();
  EXPECT_EQ(chainable.get_last_lr().size(), 2u);
  EXPECT_EQ(o.lr(2), 0.3);
}

TEST(SchedulerApi, InitialLrAndBaseLrsAsTorch) {
  Model m;
  auto opt = make_optimizer(OptKind::sgd, m);
  EXPECT_FALSE(opt->initial_lr(0).has_value());
  StepLR first(*opt, 2, 0.5);
  EXPECT_EQ(opt->initial_lr(0), 0.1);
  EXPECT_EQ(opt->initial_lr(1), 0.05);
  opt->set_lr(0, 0.7);  // a second scheduler keeps the existing initial_lr as its base
  ExponentialLR second(*opt, 0.9);
  EXPECT_EQ(second.base_lrs(), (std::vector<double>{0.1, 0.05}));
  EXPECT_EQ(second.get_last_lr(), (std::vector<double>{0.7, 0.05}));  // initial step: unchanged
  OneCycleLR one(*opt, 1.0, std::int64_t(10));  // OneCycleLR overwrites initial_lr
  EXPECT_EQ(opt->initial_lr(0), 1.0 / 25);
  EXPECT_EQ(one.base_lrs()[1], 1.0 / 25);
  EXPECT_EQ(std::string(one.momentum_name()), "momentum");
  EXPECT_EQ(&one.optimizer(), opt.get());
}

TEST(SchedulerApi, ChainedComposesMultiplicatively) {
  Model m;
  auto opt = make_optimizer(OptKind::sgd, m);
  auto c = std::make_shared<ConstantLR>(*opt, 0.5, 2);
  auto e = std::make_shared<ExponentialLR>(*opt, 0.5);
  ChainedScheduler chain({c, e});
  EXPECT_EQ(opt->lr(0), 0.05);
  chain.step();
  EXPECT_EQ(opt->lr(0), 0.025);
  chain.step();  // ConstantLR undoes its factor, ExponentialLR halves
  EXPECT_EQ(opt->lr(0), 0.025);
  EXPECT_EQ(chain.get_last_lr(), (std::vector<double>{0.025, 0.0125}));
  EXPECT_EQ(chain.last_epoch(), 2);
}

// ---- a scheduler outliving its optimizer -----------------------------------------------------

TEST(SchedulerLifetime, DestroyedOptimizerThrowsInsteadOfDangling) {
  Model m;
  auto opt = make_optimizer(OptKind::sgd, m);
  auto step = std::make_shared<StepLR>(*opt, 2, 0.5);
  auto warmup = std::make_shared<LinearLR>(*opt, 0.5, 1.0, 2);
  auto cosine = std::make_shared<CosineAnnealingLR>(*opt, 5);
  auto sequential =
      std::make_shared<SequentialLR>(*opt, std::vector<Ptr>{warmup, cosine}, std::vector<std::int64_t>{2});
  auto exponential = std::make_shared<ExponentialLR>(*opt, 0.9);
  auto chained = std::make_shared<ChainedScheduler>(std::vector<Ptr>{exponential});
  auto plateau = std::make_shared<ReduceLROnPlateau>(*opt);
  auto one_cycle = std::make_shared<OneCycleLR>(*opt, 1.0, std::int64_t(10));
  step->step();
  sequential->step();
  chained->step();
  plateau->step(1.0);
  const fusedopt::SchedulerState saved = step->state_dict();
  const std::vector<double> last_lr = step->get_last_lr();
  opt.reset();

  auto expect_destroyed = [](const std::function<void()>& f, const std::string& who) {
    try {
      f();
      ADD_FAILURE() << who << ": did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(who + ": its optimizer was destroyed"), std::string::npos)
          << e.what();
    }
  };
  expect_destroyed([&] { step->step(); }, "StepLR");
  expect_destroyed([&] { step->optimizer(); }, "StepLR");
  expect_destroyed([&] { warmup->step(); }, "LinearLR");
  expect_destroyed([&] { sequential->step(); }, "SequentialLR");
  expect_destroyed([&] { chained->step(); }, "ChainedScheduler");
  expect_destroyed([&] { plateau->step(0.5); }, "ReduceLROnPlateau");
  expect_destroyed([&] { one_cycle->step(); }, "OneCycleLR");
  expect_destroyed([&] { ChainedScheduler({step}); }, "StepLR");
  // What does not need the optimizer still works.
  EXPECT_EQ(step->state_dict(), saved);
  EXPECT_EQ(step->get_last_lr(), last_lr);
  step->load_state_dict(saved);
  EXPECT_EQ(step->last_epoch(), 1);
  EXPECT_EQ(sequential->last_epoch(), 1);
  EXPECT_EQ(plateau->num_bad_epochs(), 0);
}

// ---- param groups added after the scheduler (NOTE(scheduler-groups)) -------------------------

/// An SGD that starts with one group (lr 0.1, momentum 0.9); add() adds a second (lr 0.5,
/// momentum 0.8), as a run that unfreezes layers.
struct GrowingRun {
  Model m;
  SGD opt{m.group0(), SGDOptions().lr(0.1).momentum(0.9)};
  void add() { opt.add_param_group({m.group1(), SGDOptions().lr(0.5).momentum(0.8)}); }
};

struct GrowingCase {
  const char* name;
  Builder build;
};

std::vector<GrowingCase> growing_cases() {
  return {
      {"StepLR", make<StepLR>(std::int64_t(2), 0.5)},
      {"CosineAnnealingLR", make<CosineAnnealingLR>(std::int64_t(6), 0.01)},
      {"OneCycleLR", make<OneCycleLR>(PerGroup(1.0), std::optional<std::int64_t>(12))},
      {"SequentialLR",
       [](Optimizer& o) -> Ptr {
         auto warmup = std::make_shared<LinearLR>(o, 0.25, 1.0, 3);
         auto decay = std::make_shared<ExponentialLR>(o, 0.8);
         return std::make_shared<SequentialLR>(o, std::vector<Ptr>{warmup, decay},
                                               std::vector<std::int64_t>{3});
       }},
  };
}

TEST(SchedulerGroups, LaterGroupKeepsItsLrAndTheScheduleGoesOn) {
  for (const GrowingCase& c : growing_cases()) {
    SCOPED_TRACE(c.name);
    GrowingRun reference, run;  // reference: never grows
    Ptr ref = c.build(reference.opt), sched = c.build(run.opt);
    for (int i = 0; i < 3; ++i) {
      ref->step();
      sched->step();
    }
    run.add();
    for (int i = 0; i < 6; ++i) {
      ref->step();
      sched->step();
      ASSERT_EQ(run.opt.lr(0), reference.opt.lr(0)) << "step " << i;
      ASSERT_EQ(run.opt.get(0, "momentum"), reference.opt.get(0, "momentum"));
      ASSERT_EQ(run.opt.lr(1), 0.5);
      ASSERT_EQ(run.opt.get(1, "momentum"), 0.8);
      ASSERT_EQ(sched->get_last_lr(), std::vector<double>{run.opt.lr(0)});
    }
    EXPECT_EQ(sched->num_groups(), 1u);
    const fusedopt::SchedulerState state = sched->state_dict();
    EXPECT_EQ(state.at("base_lrs").size(), 1u);
    EXPECT_EQ(state, ref->state_dict());
    sched->load_state_dict(state);
    EXPECT_EQ(sched->state_dict(), state);
  }
}

TEST(SchedulerGroups, ReduceLROnPlateauLeavesALaterGroupAlone) {
  GrowingRun run;
  ReduceLROnPlateau plateau(run.opt, ReduceLROnPlateau::Mode::min, 0.5, 0);
  plateau.step(1.0);
  run.add();
  plateau.step(2.0);  // worse, patience 0: reduce
  EXPECT_EQ(run.opt.lr(0), 0.05);
  EXPECT_EQ(run.opt.lr(1), 0.5);
  EXPECT_EQ(plateau.get_last_lr(), std::vector<double>{0.05});
  const fusedopt::SchedulerState state = plateau.state_dict();
  EXPECT_EQ(state.at("min_lrs").size(), 1u);
  plateau.load_state_dict(state);
  EXPECT_EQ(plateau.state_dict(), state);
}

/// A run that grew mid-training resumes from its checkpoints: optimizer and scheduler built as
/// at the start, the group added, then both states loaded; it continues as the original.
TEST(SchedulerGroups, ResumeAfterAddParamGroup) {
  for (const GrowingCase& c : growing_cases()) {
    SCOPED_TRACE(c.name);
    GrowingRun original;
    Ptr sched = c.build(original.opt);
    for (int i = 0; i < 3; ++i) sched->step();
    original.add();
    for (int i = 0; i < 2; ++i) sched->step();
    const StateDict opt_state = original.opt.state_dict();
    const fusedopt::SchedulerState sched_state = sched->state_dict();

    GrowingRun resumed;
    Ptr again = c.build(resumed.opt);
    resumed.add();
    resumed.opt.load_state_dict(opt_state);
    again->load_state_dict(sched_state);
    EXPECT_EQ(again->state_dict(), sched_state);
    for (int i = 0; i < 5; ++i) {
      sched->step();
      again->step();
      for (std::size_t g = 0; g < 2; ++g) {
        ASSERT_EQ(resumed.opt.lr(g), original.opt.lr(g)) << "group " << g << " step " << i;
        ASSERT_EQ(resumed.opt.get(g, "momentum"), original.opt.get(g, "momentum"));
      }
      ASSERT_EQ(again->state_dict(), sched->state_dict());
    }
    EXPECT_EQ(original.opt.lr(1), 0.5);
  }
}

TEST(SchedulerGroups, StateOfAnotherGroupCountIsRejected) {
  Model two_m;
  auto two = make_optimizer(OptKind::sgd, two_m);  // 2 groups
  StepLR two_step(*two, 2, 0.5);
  ReduceLROnPlateau two_plateau(*two);
  GrowingRun run;
  StepLR step(run.opt, 2, 0.5);
  ReduceLROnPlateau plateau(run.opt);
  run.add();  // the optimizer now has 2 groups, as `two`; the schedulers still schedule 1
  step.step();
  plateau.step(1.0);

  auto expect_rejected = [&](LRScheduler& s, const fusedopt::SchedulerState& bad,
                             const char* needle) {
    const fusedopt::SchedulerState before = s.state_dict();
    const Snapshot opt_before(run.opt);
    try {
      s.load_state_dict(bad);
      ADD_FAILURE() << s.name() << " accepted a state of another group count";
    } catch (const Error& e) {
      const std::string message = e.what();
      for (const char* part : {needle, "the state was saved by a scheduler of a different number "
                                       "of param groups"})
        EXPECT_NE(message.find(part), std::string::npos) << message;
    }
    EXPECT_EQ(s.state_dict(), before);
    EXPECT_TRUE(Snapshot(run.opt) == opt_before);
  };
  expect_rejected(step, two_step.state_dict(),
                  "StepLR: state_dict[\"base_lrs\"] has 2 value(s), expected 1");
  expect_rejected(plateau, two_plateau.state_dict(), "has 2 value(s), expected 1");
  // The other way round: a 1-group state into a 2-group scheduler.
  const fusedopt::SchedulerState one = step.state_dict();
  const fusedopt::SchedulerState two_before = two_step.state_dict();
  EXPECT_THROW(two_step.load_state_dict(one), Error);
  EXPECT_EQ(two_step.state_dict(), two_before);
}

}  // namespace
}  // namespace fusedopt::testing
