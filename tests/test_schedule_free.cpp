// Schedule-free AdamW (AdamWScheduleFree) against the double reference (reference/schedule_free.*)
// and against golden trajectories of the reference package (golden/schedule_free.inc, written
// by golden/generate_schedule_free.py), plus its host-side protocol: train()/eval(), the
// eval-mode error, the schedule in checkpoints, found_inf skips and frozen parameters.
//
// Tolerances are normwise, as in test_trajectories.cpp: |x - ref| <= rtol * scale, scale the
// largest |ref| of the tensor over the trajectory.
//   f32:  rtol 2e-6. y is rounded twice per step (the lerp to z, then the update) where Adam
//         rounds its parameter once: over 12 steps and 270K elements the largest float error
//         reaches ~1e-6.
//   f16:  rtol 2e-3, bf16: rtol 1.6e-2 (2 and 4 ulp at the tensor's scale), as every
//         optimizer: a rounding decided differently moves an element by an ulp.
//   Golden (f32, package vs library): rtol 1e-6. Both run the same float operations; torch's
//         CPU kernels may contract or reorder them differently.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "reference/schedule_free.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

namespace r = reference;
using reference::Vec;

double max_abs(const Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

/// Reports up to 5 elements where |got - want| > rtol * scale.
void expect_close(const std::vector<double>& got, const Vec& want, double rtol, double scale,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < got.size() && reported < 5; ++i)
    if (!(std::abs(got[i] - want[i]) <= rtol * scale)) {
      ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", reference " << want[i]
                    << ", error/scale = " << std::abs(got[i] - want[i]) / scale;
      ++reported;
    }
}

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// ---- options ----------------------------------------------------------------------------------

struct Variant {
  std::string name;
  AdamWScheduleFreeOptions options;
  r::ScheduleFreeConfig config;
};
void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

/// The defaults (at a larger lr), and every schedule option away from its default: a warmup
/// that ends inside the trajectory, polynomial weighting, weight decay.
std::vector<Variant> variants() {
  Variant plain{"default", AdamWScheduleFreeOptions().lr(1e-2), {}};
  plain.config.lr = 1e-2;
  Variant tuned{"warmup_wd_r",
                AdamWScheduleFreeOptions().lr(2e-2).betas({0.8, 0.99}).eps(1e-6).weight_decay(1e-2)
                    .warmup_steps(4).r(0.5).weight_lr_power(1.0),
                {2e-2, 0.8, 0.99, 1e-6, 1e-2, 4, 0.5, 1.0}};
  return {plain, tuned};
}

constexpr double kGroup1Lr = 5e-3;  // group 1 overrides lr

// ---- storage modes ----------------------------------------------------------------------------

struct Mode {
  std::string name;
  DType dtype;
  Precision precision;
};
void PrintTo(const Mode& m, std::ostream* os) { *os << m.name; }

std::vector<Mode> modes() {
  Precision master;
  master.master_weights = true;
  Precision bf16_state;
  bf16_state.state_dtype = DType::bf16;
  Precision both = bf16_state;
  both.master_weights = true;
  return {{"f32", DType::f32, {}},         {"f16", DType::f16, {}},
          {"bf16", DType::bf16, {}},       {"f16_master", DType::f16, master},
          {"bf16_master", DType::bf16, master}, {"bf16_state", DType::bf16, bf16_state},
          {"bf16_master_bf16_state", DType::bf16, both}};
}

double tolerance(DType dtype) {
  return dtype == DType::f32 ? 2e-6 : dtype == DType::f16 ? 2e-3 : 1.6e-2;
}

// ---- the trajectory against the double reference ------------------------------------------------

// Lengths and misalignment (elements) per group: the chunking's edges, vector tails, and
// tensors off the vector alignment (the scalar path).
struct TensorSpec {
  std::int64_t numel;
  int misalign;
};
const std::vector<std::vector<TensorSpec>> kGroups = {
    {{0, 0}, {1, 0}, {3, 0}, {5, 0}, {1000, 0}},
    {{65539, 0}, {2 * 65536 + 1, 0}},
    {{7, 1}, {4099, 3}},
};
constexpr int kSteps = 12;
constexpr int kEvalAfter = 6;  // eval() (x compared), then train() (y compared), then on

using TrajectoryParam = std::tuple<Executor, Mode, Variant>;
class ScheduleFreeTrajectory : public ::testing::TestWithParam<TrajectoryParam> {};

TEST_P(ScheduleFreeTrajectory, MatchesReferenceThroughEvalAndTrain) {
  const auto& [executor, mode, variant] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const DType dtype = mode.dtype;
  const bool master = mode.precision.master_weights && dtype != DType::f32;
  const bool bf16_state = mode.precision.state_dtype == DType::bf16 && dtype == DType::bf16;
  // The reference rounds what the library stores: the parameter (unless a master holds it)
  // after every step and switch, and bf16 state after every step (NOTE(storage-rounding)).
  auto round_param = [&](Vec& v) {
    if (!master)
      for (double& x : v) x = round_to(dtype, x);
  };
  auto round_state = [&](r::ScheduleFreeState& s) {
    if (!bf16_state) return;
    for (double& x : s.z) x = round_to(DType::bf16, x);
    for (double& x : s.exp_avg_sq) x = round_to(DType::bf16, x);
  };

  constexpr Impl kImpls[] = {Impl::Loop, Impl::Foreach, Impl::Fused};
  struct Tensor {
    std::unique_ptr<GuardedTensor> value[3];
    std::unique_ptr<GuardedTensor> grad;
    std::size_t group, index;
    Vec ref;  // y during training, x after eval()
    r::ScheduleFreeState state;
    double scale = 0, z_scale = 0, v_scale = 0;
  };
  std::vector<Tensor> tensors;
  std::vector<std::vector<std::vector<Param>>> groups(3, std::vector<std::vector<Param>>(kGroups.size()));
  for (std::size_t g = 0; g < kGroups.size(); ++g)
    for (std::size_t i = 0; i < kGroups[g].size(); ++i) {
      const TensorSpec& spec = kGroups[g][i];
      Tensor t;
      t.grad = std::make_unique<GuardedTensor>(spec.numel, dtype, device, spec.misalign);
      t.group = g;
      t.index = i;
      t.ref = random_values(rng, spec.numel, 1.0, dtype);
      t.scale = max_abs(t.ref);
      // z starts at the parameter and moves by lr-sized steps: a linear state, whose float (and
      // bf16-state) error is relative to those terms, not to |z|, which can cancel to far below
      // them (|y0| near lr: seed 15397975329177352357, bf16 state, z 6e-4 from y0 and lr).
      t.z_scale = t.scale;
      for (std::size_t k = 0; k < 3; ++k) {
        t.value[k] = std::make_unique<GuardedTensor>(spec.numel, dtype, device, spec.misalign);
        t.value[k]->set(t.ref);
        groups[k][g].push_back({t.value[k]->view(), t.grad->view()});
      }
      tensors.push_back(std::move(t));
    }
  std::vector<r::ScheduleFreeConfig> configs(kGroups.size(), variant.config);
  configs[1].lr = kGroup1Lr;
  std::vector<r::ScheduleFreeSchedule> schedules(kGroups.size());

  std::unique_ptr<AdamWScheduleFree> opts[3];
  for (std::size_t k = 0; k < 3; ++k) {
    std::vector<AdamWScheduleFree::Group> spec = {{groups[k][0], std::nullopt},
                                                  {groups[k][1], AdamWScheduleFreeOptions().lr(kGroup1Lr)},
                                                  {groups[k][2], std::nullopt}};
    opts[k] = std::make_unique<AdamWScheduleFree>(std::move(spec), variant.options);
    opts[k]->set_impl(kImpls[k]);
    opts[k]->set_precision(mode.precision);
    EXPECT_FALSE(opts[k]->train_mode());  // as the reference, it starts in eval mode
    opts[k]->train();
  }

  const double rtol = tolerance(dtype);
  // fp32 state at f32's rtol, bf16 state at bf16's. z also takes the parameter's when the
  // parameter is stored in f16/bf16 without a master: an element of y rounded the other way
  // (an ulp, within the parameter's tolerance) moves z by lr * weight_decay * ulp(y) per step.
  const double state_rtol = bf16_state ? tolerance(DType::bf16) : tolerance(DType::f32);
  const double z_rtol = master ? state_rtol : std::max(state_rtol, rtol);
  auto compare = [&](const std::string& when, bool with_state) {
    for (std::size_t k = 0; k < 3; ++k)
      for (const Tensor& t : tensors) {
        std::ostringstream where;
        where << "Impl::" << to_string(kImpls[k]) << " " << when << " param_groups[" << t.group
              << "].params[" << t.index << "] (numel " << t.grad->numel() << ")";
        Vec want = t.ref;
        if (master)  // the stored parameter is the master rounded to nearest
          for (double& x : want) x = round_to(dtype, x);
        expect_close(t.value[k]->get(), want, rtol, std::max(t.scale, 1e-30), where.str() + " value");
        if (with_state && t.grad->numel() > 0) {
          expect_close(widen(opts[k]->state(t.group, t.index, "z")), t.state.z, z_rtol,
                       std::max(t.z_scale, 1e-30), where.str() + " state z");
          expect_close(widen(opts[k]->state(t.group, t.index, "exp_avg_sq")), t.state.exp_avg_sq,
                       state_rtol, std::max(t.v_scale, 1e-30), where.str() + " state exp_avg_sq");
        }
        ASSERT_FALSE(::testing::Test::HasFailure()) << "stopping at the first difference";
        EXPECT_TRUE(t.value[k]->guards_intact()) << where.str() << ": write outside the parameter";
        EXPECT_TRUE(t.grad->guards_intact()) << where.str() << ": write outside the gradient";
      }
  };
  auto switch_all = [&](bool to_train) {
    for (auto& opt : opts) to_train ? opt->train() : opt->eval();
    for (Tensor& t : tensors) {
      r::schedule_free_switch(configs[t.group], to_train, t.ref, t.state);
      round_param(t.ref);
      t.scale = std::max(t.scale, max_abs(t.ref));
    }
  };

  for (int step = 1; step <= kSteps; ++step) {
    std::vector<r::ScheduleFreeStepScalars> scalars;
    for (std::size_t g = 0; g < kGroups.size(); ++g)
      scalars.push_back(r::schedule_free_advance(configs[g], schedules[g]));
    for (Tensor& t : tensors) {
      const Vec grad = random_values(rng, t.grad->numel(), 0.5, dtype);
      t.grad->set(grad);
      r::schedule_free_step(configs[t.group], scalars[t.group], t.ref, grad, t.state);
      round_param(t.ref);
      round_state(t.state);
      t.scale = std::max(t.scale, max_abs(t.ref));
      t.z_scale = std::max(t.z_scale, max_abs(t.state.z));
      t.v_scale = std::max(t.v_scale, max_abs(t.state.exp_avg_sq));
    }
    for (auto& opt : opts) opt->step();
    if (step == 1 || step == kEvalAfter || step == kSteps)
      compare("step " + std::to_string(step), true);
    if (step == kEvalAfter) {
      switch_all(false);
      compare("eval() after step " + std::to_string(step), false);
      for (auto& opt : opts) EXPECT_FALSE(opt->train_mode());
      switch_all(true);
      compare("train() after step " + std::to_string(step), false);
    }
  }
  for (const auto& opt : opts)
    for (std::size_t g = 0; g < kGroups.size(); ++g) {
      EXPECT_EQ(opt->schedule(g).k, double(kSteps));
      EXPECT_DOUBLE_EQ(opt->schedule(g).weight_sum, schedules[g].weight_sum);
      EXPECT_DOUBLE_EQ(opt->schedule(g).lr_max, schedules[g].lr_max);
      EXPECT_DOUBLE_EQ(opt->schedule(g).scheduled_lr, schedules[g].scheduled_lr);
      for (std::size_t i = 0; i < kGroups[g].size(); ++i)
        EXPECT_EQ(opt->step_count(g, i), double(kSteps));
    }
}

std::string trajectory_name(const ::testing::TestParamInfo<TrajectoryParam>& info) {
  return std::get<1>(info.param).name + "_" + std::get<2>(info.param).name + "_" +
         to_string(std::get<0>(info.param));
}
INSTANTIATE_TEST_SUITE_P(AllModes, ScheduleFreeTrajectory,
                         ::testing::Combine(::testing::ValuesIn(native_executors()),
                                            ::testing::ValuesIn(modes()),
                                            ::testing::ValuesIn(variants())),
                         trajectory_name);
// The CUDA kernels' per-thread code (the step and the switch) on the CPU.
INSTANTIATE_TEST_SUITE_P(Emulated, ScheduleFreeTrajectory,
                         ::testing::Combine(::testing::Values(Executor::emulated),
                                            ::testing::ValuesIn(modes()),
                                            ::testing::ValuesIn(variants())),
                         trajectory_name);

// ---- golden trajectories of the reference package ---------------------------------------------

struct Golden {
  std::string id;
  std::vector<std::vector<float>> initial;
  std::vector<std::vector<std::vector<float>>> grads;  // per step, per parameter
  std::vector<std::vector<float>> x, y, z, exp_avg_sq;
};
const std::vector<Golden> kGolden = {
#include "golden/schedule_free.inc"
};
// generate_schedule_free.py's layout: parameters 0, 1 in group 0, parameter 2 in group 1.
constexpr std::size_t kGoldenGroup0 = 2;
constexpr int kGoldenStepsBeforeEval = 4;

std::unique_ptr<AdamWScheduleFree> make_golden(const std::string& id, const std::vector<Param>& params) {
  std::vector<Param> g0(params.begin(), params.begin() + kGoldenGroup0);
  std::vector<Param> g1(params.begin() + kGoldenGroup0, params.end());
  if (id == "default")
    return std::make_unique<AdamWScheduleFree>(
        std::vector<AdamWScheduleFree::Group>{
            {g0, std::nullopt}, {g1, AdamWScheduleFreeOptions().lr(5e-3).weight_decay(0.0)}},
        AdamWScheduleFreeOptions().lr(1e-2));
  if (id == "warmup_wd_r")
    return std::make_unique<AdamWScheduleFree>(
        std::vector<AdamWScheduleFree::Group>{
            {g0, std::nullopt}, {g1, AdamWScheduleFreeOptions().lr(1e-2).weight_decay(0.0)}},
        AdamWScheduleFreeOptions().lr(2e-2).betas({0.8, 0.99}).eps(1e-6).weight_decay(1e-2)
            .warmup_steps(3).r(0.5).weight_lr_power(1.0));
  ADD_FAILURE() << "no configuration " << id;
  return nullptr;
}

Vec to_vec(const std::vector<float>& v) { return {v.begin(), v.end()}; }

class ScheduleFreeGolden : public ::testing::TestWithParam<std::tuple<Executor, Impl>> {};

TEST_P(ScheduleFreeGolden, MatchesTheReferencePackage) {
  const auto [executor, impl] = GetParam();
  FUSEDOPT_USE_EXECUTOR(executor);
  const Device device = device_of(executor);
  ASSERT_EQ(kGolden.size(), 2u);
  for (const Golden& golden : kGolden) {
    SCOPED_TRACE(golden.id);
    std::vector<std::unique_ptr<GuardedTensor>> values, grads;
    std::vector<Param> params;
    for (const auto& init : golden.initial) {
      const auto n = std::int64_t(init.size());
      values.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device, int(n % 2)));
      grads.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device));
      values.back()->set(to_vec(init));
      params.push_back({values.back()->view(), grads.back()->view()});
    }
    auto opt = make_golden(golden.id, params);
    ASSERT_TRUE(opt);
    opt->set_impl(impl);
    opt->train();
    auto check = [&](const std::vector<std::vector<float>>& want, const std::string& what,
                     auto&& got) {
      for (std::size_t i = 0; i < want.size(); ++i) {
        const Vec w = to_vec(want[i]);
        expect_close(got(i), w, 1e-6, std::max(max_abs(w), 1e-30),
                     what + " of parameter " + std::to_string(i));
      }
    };
    for (std::size_t s = 0; s < golden.grads.size(); ++s) {
      for (std::size_t i = 0; i < grads.size(); ++i) grads[i]->set(to_vec(golden.grads[s][i]));
      opt->step();
      if (s + 1 == kGoldenStepsBeforeEval) {
        opt->eval();
        check(golden.x, "x after eval()", [&](std::size_t i) { return values[i]->get(); });
        opt->train();
      }
    }
    const std::size_t groups[] = {0, 0, 1}, index[] = {0, 1, 0};
    check(golden.y, "y", [&](std::size_t i) { return values[i]->get(); });
    check(golden.z, "z", [&](std::size_t i) { return widen(opt->state(groups[i], index[i], "z")); });
    check(golden.exp_avg_sq, "exp_avg_sq",
          [&](std::size_t i) { return widen(opt->state(groups[i], index[i], "exp_avg_sq")); });
  }
}

INSTANTIATE_TEST_SUITE_P(AllImpls, ScheduleFreeGolden,
                         ::testing::Combine(::testing::Values(Executor::cpu, Executor::emulated,
                                                              Executor::cuda),
                                            ::testing::Values(Impl::Loop, Impl::Foreach, Impl::Fused)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" +
                                  to_string(std::get<1>(info.param));
                         });

// ---- the host protocol ------------------------------------------------------------------------

/// Two parameters (group 0 and group 1) with gradients, on one executor.
struct Fixture {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<std::vector<Param>> groups;
  Fixture(Device device, std::uint64_t seed, std::vector<std::int64_t> sizes = {1000, 77}) {
    std::mt19937_64 rng(seed);
    for (std::int64_t n : sizes) {
      values.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device));
      grads.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device));
      values.back()->set(random_values(rng, n, 1.0, DType::f32));
      grads.back()->set(random_values(rng, n, 0.5, DType::f32));
      groups.push_back({{values.back()->view(), grads.back()->view()}});
    }
  }
  std::unique_ptr<AdamWScheduleFree> make(AdamWScheduleFreeOptions options =
                                              AdamWScheduleFreeOptions().lr(1e-2).warmup_steps(3)) {
    std::vector<AdamWScheduleFree::Group> spec;
    for (const auto& g : groups) spec.push_back({g, std::nullopt});
    return std::make_unique<AdamWScheduleFree>(std::move(spec), options);
  }
  void new_grads(std::mt19937_64& rng) {
    for (auto& g : grads) g->set(random_values(rng, g->numel(), 0.5, DType::f32));
  }
  std::vector<std::vector<double>> snapshot(const Optimizer& opt) const {
    std::vector<std::vector<double>> out;
    for (std::size_t i = 0; i < values.size(); ++i) {
      out.push_back(values[i]->get());
      out.push_back({opt.step_count(i, 0)});
      for (const std::string& name : opt.state_names(i))
        if (opt.step_count(i, 0) > 0) out.push_back(widen(opt.state(i, 0, name)));
    }
    return out;
  }
};

class ScheduleFreeProtocol : public ::testing::TestWithParam<Executor> {};

TEST_P(ScheduleFreeProtocol, StepInEvalModeThrowsAndChangesNothing) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  Fixture f(device_of(GetParam()), 1);
  auto opt = f.make();
  const auto before = f.snapshot(*opt);
  try {
    opt->step();
    ADD_FAILURE() << "step() in eval mode did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train()"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.snapshot(*opt), before);
  EXPECT_EQ(opt->schedule(0).k, 0.0);
  // A switch before any step moves nothing: no parameter has z yet.
  opt->train();
  opt->train();  // already in train mode: a no-op
  EXPECT_TRUE(opt->train_mode());
  opt->eval();
  EXPECT_EQ(f.snapshot(*opt), before);
  // After steps, eval() twice is eval() once, and train() after eval() returns to y.
  opt->train();
  for (int i = 0; i < 3; ++i) opt->step();
  opt->eval();
  const auto x = f.snapshot(*opt);
  opt->eval();
  EXPECT_EQ(f.snapshot(*opt), x);
  EXPECT_THROW(opt->step(), Error);
  EXPECT_EQ(f.snapshot(*opt), x);
}

TEST_P(ScheduleFreeProtocol, CheckpointResumesExactly) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Fixture a(device_of(GetParam()), seed), b(device_of(GetParam()), seed);
  std::mt19937_64 rng(seed + 1);
  auto opt_a = a.make();
  opt_a->train();
  for (int i = 0; i < 5; ++i) {  // into and past the warmup
    a.new_grads(rng);
    opt_a->step();
  }
  const std::vector<unsigned char> bytes = opt_a->save_bytes();
  for (std::size_t i = 0; i < a.values.size(); ++i) b.values[i]->set(a.values[i]->get());
  auto opt_b = b.make(AdamWScheduleFreeOptions());  // the checkpoint's options replace these
  ASSERT_FALSE(opt_b->train_mode());
  opt_b->load_bytes(bytes.data(), bytes.size());
  EXPECT_TRUE(opt_b->train_mode());
  for (std::size_t g = 0; g < 2; ++g) {
    EXPECT_EQ(opt_b->schedule(g).k, 5.0);
    EXPECT_EQ(opt_b->schedule(g).weight_sum, opt_a->schedule(g).weight_sum);
    EXPECT_EQ(opt_b->schedule(g).lr_max, opt_a->schedule(g).lr_max);
    EXPECT_EQ(opt_b->schedule(g).scheduled_lr, opt_a->schedule(g).scheduled_lr);
  }
  EXPECT_EQ(opt_b->options(0).warmup_steps(), 3.0);
  for (int i = 0; i < 3; ++i) {
    a.new_grads(rng);
    for (std::size_t k = 0; k < a.grads.size(); ++k) b.grads[k]->set(a.grads[k]->get());
    opt_a->step();
    opt_b->step();
    ASSERT_EQ(a.snapshot(*opt_a), b.snapshot(*opt_b)) << "after resumed step " << i + 1;
  }
  opt_a->eval();
  opt_b->eval();
  EXPECT_EQ(a.snapshot(*opt_a), b.snapshot(*opt_b));
  // A checkpoint taken in eval mode loads in eval mode (the parameters hold x).
  const std::vector<unsigned char> eval_bytes = opt_a->save_bytes();
  opt_b->train();
  opt_b->load_bytes(eval_bytes.data(), eval_bytes.size());
  EXPECT_FALSE(opt_b->train_mode());
}

TEST_P(ScheduleFreeProtocol, BadScheduleInACheckpointThrowsAndChangesNothing) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  Fixture f(device_of(GetParam()), 3);
  auto opt = f.make();
  opt->train();
  opt->step();
  const StateDict good = opt->state_dict();
  const auto before = f.snapshot(*opt);
  const AdamWScheduleFree::Schedule schedule = opt->schedule(1);
  struct Bad {
    const char* key;
    std::optional<HyperValue> value;  // nullopt: the key is removed
    const char* message;
  };
  const Bad bad[] = {
      {"k", std::nullopt, "\"k\" is missing"},
      {"k", HyperValue(-1.0), "k"},
      {"k", HyperValue(1.5), "k"},
      {"k", HyperValue(true), "\"k\" must be a number"},
      {"lr_max", HyperValue(double(NAN)), "lr_max"},
      {"weight_sum", HyperValue(-1.0), "weight_sum"},
      {"scheduled_lr", HyperValue(double(INFINITY)), "scheduled_lr"},
      {"train_mode", std::nullopt, "\"train_mode\" is missing"},
      {"train_mode", HyperValue(1.0), "\"train_mode\" must be a bool"},
      {"warmup_steps", HyperValue(-1.0), "warmup_steps"},
  };
  for (const Bad& b : bad) {
    StateDict state = good;
    HyperMap& options = state.param_groups[1].options;
    if (b.value) options[b.key] = *b.value; else options.erase(b.key);
    try {
      opt->load_state_dict(state);
      ADD_FAILURE() << b.key << ": no Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("param_groups[1]"), std::string::npos) << e.what();
    }
    EXPECT_EQ(f.snapshot(*opt), before) << b.key;
    EXPECT_EQ(opt->schedule(1).k, schedule.k) << b.key;
    EXPECT_EQ(opt->schedule(1).weight_sum, schedule.weight_sum) << b.key;
    EXPECT_TRUE(opt->train_mode()) << b.key;
  }
}

TEST_P(ScheduleFreeProtocol, FoundInfSkipsTheStepAndTheSchedule) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Fixture a(device, seed), b(device, seed);
  // grad_scale and found_inf in the optimizer's device memory.
  GuardedTensor scalars(2, DType::f32, device);
  auto set_scalars = [&](double scale, double inf) { scalars.set({scale, inf}); };
  const float* scale_ptr = static_cast<const float*>(scalars.view().data);
  auto opt_a = a.make();
  auto opt_b = b.make();
  opt_a->set_grad_scaling(scale_ptr, scale_ptr + 1);
  opt_a->train();
  opt_b->train();
  set_scalars(1.0, 1.0);
  const auto before = a.snapshot(*opt_a);
  opt_a->step();  // skipped: nothing changes, the schedule does not advance
  EXPECT_EQ(a.snapshot(*opt_a), before);
  EXPECT_EQ(opt_a->schedule(0).k, 0.0);
  // The gradients scaled by 2 (exact) and found_inf clear: as an unscaled optimizer that never
  // saw the skipped step, bit for bit.
  std::mt19937_64 rng(seed + 1);
  set_scalars(2.0, 0.0);
  for (int i = 0; i < 4; ++i) {
    b.new_grads(rng);
    for (std::size_t k = 0; k < a.grads.size(); ++k) {
      std::vector<double> g = b.grads[k]->get();
      for (double& x : g) x *= 2;
      a.grads[k]->set(g);
    }
    opt_a->step();
    opt_b->step();
    ASSERT_EQ(a.snapshot(*opt_a), b.snapshot(*opt_b)) << "step " << i + 1;
  }
  EXPECT_EQ(opt_a->schedule(0).k, 4.0);
  opt_a->set_grad_scaling(nullptr, nullptr);
}

TEST_P(ScheduleFreeProtocol, FrozenParameterKeepsEverythingWhileTheScheduleAdvances) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  // One group of two parameters; parameter 1 is frozen for steps 2..3, and, as in the reference
  // (a parameter whose grad is None), its first step after that sees the group's schedule.
  Fixture f(device_of(GetParam()), seed, {1000, 4099});
  std::vector<AdamWScheduleFree::Group> spec = {{{f.groups[0][0], f.groups[1][0]}, std::nullopt}};
  const r::ScheduleFreeConfig config{1e-2, 0.9, 0.999, 1e-8, 0, 2, 0, 2};
  AdamWScheduleFree opt(std::move(spec),
                        AdamWScheduleFreeOptions().lr(config.lr).warmup_steps(config.warmup_steps));
  opt.train();
  r::ScheduleFreeSchedule schedule;
  Vec ref[2] = {f.values[0]->get(), f.values[1]->get()};
  r::ScheduleFreeState state[2];
  std::mt19937_64 rng(seed + 1);
  for (int step = 1; step <= 6; ++step) {
    const bool frozen = step == 2 || step == 3;
    opt.set_param_enabled(0, 1, !frozen);
    f.new_grads(rng);
    const r::ScheduleFreeStepScalars scalars = r::schedule_free_advance(config, schedule);
    for (int i = 0; i < 2; ++i)
      if (!(frozen && i == 1)) r::schedule_free_step(config, scalars, ref[i], f.grads[i]->get(), state[i]);
    const std::vector<float> z_before = step > 1 ? opt.state(0, 1, "z") : std::vector<float>{};
    opt.step();
    for (int i = 0; i < 2; ++i) {
      const std::string where = "step " + std::to_string(step) + " parameter " + std::to_string(i);
      expect_close(f.values[i]->get(), ref[i], 2e-6, max_abs(ref[i]), where);
      expect_close(widen(opt.state(0, i, "z")), state[i].z, 2e-6, max_abs(state[i].z), where + " z");
    }
    if (frozen) EXPECT_EQ(opt.state(0, 1, "z"), z_before);
    EXPECT_EQ(opt.step_count(0, 1), step <= 1 ? 1.0 : step <= 3 ? 1.0 : double(step - 2));
  }
  EXPECT_EQ(opt.schedule(0).k, 6.0);
}

TEST_P(ScheduleFreeProtocol, OptionsAreValidatedAndNamed) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  Fixture f(device_of(GetParam()), 4);
  auto expect_error = [&](AdamWScheduleFreeOptions o, const std::string& name) {
    try {
      f.make(o);
      ADD_FAILURE() << name << ": no Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  expect_error(AdamWScheduleFreeOptions().betas({0.0, 0.999}), "beta1");
  expect_error(AdamWScheduleFreeOptions().betas({0.9, 1.0}), "beta");
  expect_error(AdamWScheduleFreeOptions().lr(-1), "lr");
  expect_error(AdamWScheduleFreeOptions().eps(-1), "eps");
  expect_error(AdamWScheduleFreeOptions().weight_decay(-1), "weight_decay");
  expect_error(AdamWScheduleFreeOptions().warmup_steps(-1), "warmup_steps");
  expect_error(AdamWScheduleFreeOptions().r(double(NAN)), "r");
  expect_error(AdamWScheduleFreeOptions().weight_lr_power(-1), "weight_lr_power");
  // A group option changed later is validated too, and the group is left as it was.
  auto opt = f.make();
  EXPECT_THROW(opt->set(0, "beta1", 0.0), Error);
  EXPECT_EQ(opt->options(0).betas().first, 0.9);
  // lr 0 (weight_sum stays 0): ckp1 = 0, as the reference's ZeroDivisionError branch; nothing moves.
  auto zero = f.make(AdamWScheduleFreeOptions().lr(0.0));
  zero->train();
  const auto before = f.values[0]->get();
  zero->step();
  EXPECT_EQ(f.values[0]->get(), before);
  EXPECT_EQ(zero->schedule(0).weight_sum, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Executors, ScheduleFreeProtocol,
                         ::testing::Values(Executor::cpu, Executor::emulated, Executor::cuda),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace fusedopt::testing
