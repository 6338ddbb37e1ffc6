// Checkpoints: state_dict / load_state_dict, save / load (safetensors), exact resume for every
// optimizer x executor x impl, schedulers and averaging resume, and hostile input; and the AMP
// step (grad_scale / found_inf), which must leave a run exactly as without it.
//
// Exact resume: 10 steps uninterrupted against 5 steps, save, a fresh optimizer (made with a
// different lr, so the file must restore it) over the same parameters, load, 5 more steps. The
// parameters (bytes) and the state_dict (bits) must be identical.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <chrono>
#include <atomic>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"
#include "host/io/checkpoint.hpp"
#include "host/io/safetensors.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

namespace fs = std::filesystem;

// ---- every optimizer, each state layout -------------------------------------------------------

struct OptimizerCase {
  std::string name;
  /// Builds the optimizer over three groups; `lr_scale` multiplies every lr (group 1 has its own).
  std::function<std::unique_ptr<Optimizer>(const std::vector<std::vector<Param>>&, double lr_scale)>
      make;
};

template <class Options>
OptimizerCase make_case(std::string name, Options defaults) {
  return {std::move(name), [defaults](const std::vector<std::vector<Param>>& groups, double scale) {
            using Opt = FusedOptimizer<Options>;
            Options d = defaults;
            d.lr(defaults.lr() * scale);
            std::vector<typename Opt::Group> spec = {
                {groups[0], std::nullopt},
                {groups[1], Options().lr(defaults.lr() * 0.5 * scale)},
                {groups[2], Options().maximize(true)}};
            return std::unique_ptr<Optimizer>(std::make_unique<Opt>(std::move(spec), d));
          }};
}

std::vector<OptimizerCase> all_optimizers() {
  return {
      make_case("SGD", SGDOptions().lr(0.1)),
      make_case("SGD_momentum",
                SGDOptions().lr(0.1).momentum(0.9).dampening(0.1).weight_decay(0.01)),
      make_case("SGD_nesterov", SGDOptions().lr(0.1).momentum(0.9).nesterov(true)),
      make_case("Adam", AdamOptions().lr(1e-2).weight_decay(0.01)),
      make_case("Adam_amsgrad", AdamOptions().lr(1e-2).amsgrad(true)),
      make_case("AdamW", AdamWOptions().lr(1e-2)),
      make_case("AdamW_amsgrad", AdamWOptions().lr(1e-2).amsgrad(true)),
      make_case("RMSprop", RMSpropOptions().lr(1e-2)),
      make_case("RMSprop_momentum", RMSpropOptions().lr(1e-2).momentum(0.9)),
      make_case("RMSprop_centered", RMSpropOptions().lr(1e-2).centered(true)),
      make_case("RMSprop_centered_momentum",
                RMSpropOptions().lr(1e-2).centered(true).momentum(0.5)),
      make_case("Adagrad", AdagradOptions().lr(0.1).lr_decay(0.01).initial_accumulator_value(0.1)),
      make_case("Adamax", AdamaxOptions().lr(1e-2).weight_decay(0.01)),
      make_case("NAdam", NAdamOptions().lr(1e-2)),
      make_case("NAdam_decoupled",
                NAdamOptions().lr(1e-2).weight_decay(0.1).decoupled_weight_decay(true)),
      make_case("RAdam", RAdamOptions().lr(1e-2).weight_decay(0.01)),
      make_case("Adadelta", AdadeltaOptions().lr(1.0).weight_decay(0.01)),
      make_case("Rprop", RpropOptions().lr(1e-2)),
      make_case("ASGD", ASGDOptions().lr(1e-2).t0(3)),
      make_case("Lion", LionOptions().lr(1e-3).weight_decay(0.1)),
  };
}

OptimizerCase case_named(const std::string& name) {
  for (const OptimizerCase& c : all_optimizers())
    if (c.name == name) return c;
  throw std::logic_error("no optimizer case " + name);
}

// ---- a small model: three groups of mixed sizes and dtypes ------------------------------------

const std::vector<std::vector<SteppedModel::Spec>> kModel = {
    {{0, DType::f32}, {1, DType::f32}, {1000, DType::f32}, {65539, DType::f32}},
    {{7, DType::bf16}, {4099, DType::bf16}},
    {{33, DType::f16}, {5, DType::f32}},
};
constexpr int kSteps = 10;

/// Parameters, their gradients and every step's gradient values, deterministic per seed.
struct Model : SteppedModel {
  Model(Device device, std::uint64_t seed, bool short_gradients = false)
      : SteppedModel(device, seed, kModel, kSteps, short_gradients) {}
};

void run_steps(Optimizer& opt, Model& model, int from, int to) {
  for (int s = from; s < to; ++s) {
    model.load_grads(s);
    opt.step();
  }
  opt.synchronize();
}

std::string temp_path(const std::string& name) {
  return (fs::path(::testing::TempDir()) /
          ("fusedopt_" + name + "_" + std::to_string(::getpid()) + ".safetensors"))
      .string();
}

// ---- exact resume -----------------------------------------------------------------------------

struct ResumeCase {
  OptimizerCase optimizer;
  Executor executor;
  Device device;
  Impl impl;
};
void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.optimizer.name; }
std::string case_name(const ::testing::TestParamInfo<ResumeCase>& info) {
  return info.param.optimizer.name + "_" + to_string(info.param.impl) + "_" +
         to_string(info.param.executor);
}

class ExactResume : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ExactResume, TenStepsEqualFiveSaveLoadFive) {
  const ResumeCase& c = GetParam();
  FUSEDOPT_USE_EXECUTOR(c.executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));

  Model straight(c.device, seed);
  auto uninterrupted = c.optimizer.make(straight.groups(), 1.0);
  uninterrupted->set_impl(c.impl);
  run_steps(*uninterrupted, straight, 0, kSteps);

  Model resumed(c.device, seed);
  const std::string path = temp_path(c.optimizer.name);
  StateDict in_memory;
  {
    auto first = c.optimizer.make(resumed.groups(), 1.0);
    first->set_impl(c.impl);
    run_steps(*first, resumed, 0, kSteps / 2);
    first->set_initial_lr(0, 0.125);  // as a scheduler would
    first->save(path);
    in_memory = first->state_dict();
  }
  auto second = c.optimizer.make(resumed.groups(), 3.0);  // different lrs: load restores them
  second->set_impl(c.impl);
  second->load(path);
  EXPECT_EQ(difference(second->state_dict(), in_memory), "") << "the file lost something";
  EXPECT_EQ(second->initial_lr(0), 0.125);
  run_steps(*second, resumed, kSteps / 2, kSteps);

  EXPECT_EQ(difference(resumed.values(), straight.values()), "");
  StateDict expected = uninterrupted->state_dict();
  expected.param_groups[0].initial_lr = 0.125;
  EXPECT_EQ(difference(second->state_dict(), expected), "");
  std::remove(path.c_str());

  // In memory, into a third optimizer, continuing from the same point.
  Model again(c.device, seed);
  auto third = c.optimizer.make(again.groups(), 1.0);
  third->set_impl(c.impl);
  run_steps(*third, again, 0, kSteps / 2);
  auto fourth = c.optimizer.make(again.groups(), 2.0);
  fourth->set_impl(c.impl);
  fourth->load_state_dict(third->state_dict());
  third.reset();
  run_steps(*fourth, again, kSteps / 2, kSteps);
  EXPECT_EQ(difference(again.values(), straight.values()), "");
}

std::vector<ResumeCase> resume_cases(const std::vector<Executor>& executors) {
  std::vector<ResumeCase> out;
  for (const OptimizerCase& o : all_optimizers())
    for (Executor executor : executors)
      for (Impl impl : {Impl::Fused, Impl::Foreach, Impl::Loop})
        out.push_back({o, executor, device_of(executor), impl});
  return out;
}

// NOTE(one-list): a new optimizer in cmake/optimizers.cmake needs a case in all_optimizers()
// (AdamWScheduleFree saves its schedule too: tests/test_schedule_free.cpp resumes it).
TEST(CheckpointCases, CoverEveryListedOptimizer) {
  std::vector<std::string> names;
  for (const OptimizerCase& c : all_optimizers()) names.push_back(c.name);
  EXPECT_EQ(uncovered_optimizers(names, {"AdamWScheduleFree"}), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, ExactResume,
                         ::testing::ValuesIn(resume_cases(native_executors())), case_name);
INSTANTIATE_TEST_SUITE_P(Emulated, ExactResume,
                         ::testing::ValuesIn(resume_cases({Executor::emulated})), case_name);

// ---- AMP: grad_scale and found_inf (NOTE(amp) in kernels/engine/plan.h) -----------------------------

class AmpScaling : public ::testing::TestWithParam<ResumeCase> {};

// Gradients scaled by S with grad_scale = S give the unscaled run bit for bit, for S = 2^10 and
// for S = 768 = 3 * 2^8 (6-bit gradients, so g * S and (g * S) / S are exact, where
// g * S * (1 / S) is not: the step must divide, as torch's fused optimizers do); a step with
// found_inf = 1 (and NaN gradients) changes nothing at all; the run then continues unchanged.
TEST_P(AmpScaling, UnscalesExactlyAndSkipsOnFoundInf) {
  const ResumeCase& c = GetParam();
  FUSEDOPT_USE_EXECUTOR(c.executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (const double kScale : {1024.0, 768.0}) {
  SCOPED_TRACE("loss scale " + std::to_string(kScale));
  const bool short_gradients = kScale != 1024.0;
  Model plain(c.device, seed, short_gradients);
  auto reference = c.optimizer.make(plain.groups(), 1.0);
  reference->set_impl(c.impl);
  run_steps(*reference, plain, 0, kSteps);

  Model scaled(c.device, seed, short_gradients);
  auto opt = c.optimizer.make(scaled.groups(), 1.0);
  opt->set_impl(c.impl);
  GuardedTensor grad_scale(1, DType::f32, c.device), found_inf(1, DType::f32, c.device);
  grad_scale.set({kScale});
  found_inf.set({0.0});
  opt->set_grad_scaling(static_cast<const float*>(grad_scale.view().data),
                        static_cast<const float*>(found_inf.view().data));
  for (int s = 0; s < kSteps; ++s) {
    if (s == kSteps / 2) {  // an overflowing step: skipped entirely
      const StateDict before = opt->state_dict();
      const auto values = scaled.values();
      scaled.poison_grads(std::nan(""));
      found_inf.set({1.0});
      opt->step();
      opt->synchronize();
      EXPECT_EQ(difference(opt->state_dict(), before), "") << "a found_inf step changed the state";
      EXPECT_EQ(difference(scaled.values(), values), "") << "a found_inf step changed parameters";
      found_inf.set({0.0});
    }
    scaled.load_grads(s, kScale);
    opt->step();
  }
  opt->synchronize();
  EXPECT_EQ(difference(scaled.values(), plain.values()), "");
  EXPECT_EQ(difference(opt->state_dict(), reference->state_dict()), "");
  if (kScale != 1024.0) break;  // the checks below once

  // Turned off again: plain gradients, plain steps.
  opt->set_grad_scaling(nullptr, nullptr);
  EXPECT_THROW(
      opt->set_grad_scaling(
          reinterpret_cast<const float*>(std::uintptr_t(grad_scale.view().data) + 1), nullptr),
      Error);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, AmpScaling,
                         ::testing::ValuesIn(resume_cases(native_executors())), case_name);
INSTANTIATE_TEST_SUITE_P(Emulated, AmpScaling,
                         ::testing::ValuesIn(resume_cases({Executor::emulated})), case_name);

// Without found_inf, NaN gradients propagate (as torch; tests/test_nonfinite.cpp has the exact
// values): the same NaN step that found_inf skips poisons the parameters here.
TEST(Amp, WithoutFoundInfNaNPropagates) {
  Model model(Device::cpu(), 9);
  AdamW opt(model.groups()[0]);
  float scale = 1.0f;
  opt.set_grad_scaling(&scale, nullptr);
  model.poison_grads(std::nan(""));
  opt.step();
  const auto values = model.values();
  EXPECT_TRUE(std::isnan(values[1][0]));
}

// ---- state_dict has torch's structure ------------------------------------------------------

TEST(StateDict, HasTorchStructureAndNames) {
  Model model(Device::cpu(), 7);
  AdamW opt({{model.groups()[0], std::nullopt},
             {model.groups()[1], AdamWOptions().lr(0.5)},
             {model.groups()[2], std::nullopt}},
            AdamWOptions().amsgrad(true));
  StateDict before = opt.state_dict();
  EXPECT_EQ(before.optimizer, "AdamW");
  EXPECT_TRUE(before.state.empty()) << "as torch, no state before the first step";
  ASSERT_EQ(before.param_groups.size(), 3u);
  EXPECT_EQ(before.param_groups[1].params, (std::vector<std::int64_t>{4, 5}));
  EXPECT_EQ(std::get<double>(before.param_groups[1].options.at("lr")), 0.5);
  EXPECT_EQ(std::get<bool>(before.param_groups[0].options.at("amsgrad")), true);
  const Pair betas = std::get<Pair>(before.param_groups[0].options.at("betas"));
  EXPECT_EQ(betas, Pair(0.9, 0.999));
  run_steps(opt, model, 0, 2);
  const StateDict after = opt.state_dict();
  ASSERT_EQ(after.state.size(), 8u);
  const ParamState& p = after.state.at(3);
  EXPECT_EQ(p.step, 2.0);
  EXPECT_EQ(p.tensors.size(), 3u);
  EXPECT_EQ(p.tensors.at("exp_avg").size(), 65539u);
  EXPECT_TRUE(same_bits(p.tensors.at("max_exp_avg_sq"), opt.state(0, 3, "max_exp_avg_sq")));
  EXPECT_TRUE(p.scalars.empty());

  Model m2(Device::cpu(), 7);
  NAdam nadam(m2.groups()[0]);
  ASGD asgd(m2.groups()[1]);
  run_steps(nadam, m2, 0, 1);
  run_steps(asgd, m2, 0, 1);
  EXPECT_EQ(nadam.state_dict().state.at(2).scalars.count("mu_product"), 1u);
  EXPECT_EQ(asgd.state_dict().state.at(1).scalars.count("eta"), 1u);
}

TEST(StateDict, LoadIntoDifferentLayoutIsRejected) {
  Model model(Device::cpu(), 3);
  Adam plain(model.groups()[0]);
  run_steps(plain, model, 0, 1);
  StateDict state = plain.state_dict();
  Model other(Device::cpu(), 3);
  Adam ams(other.groups()[0], AdamOptions().amsgrad(true));
  state.param_groups[0].options["amsgrad"] = true;  // the options match ams, the state does not
  EXPECT_THROW(ams.load_state_dict(state), Error) << "the state lacks max_exp_avg_sq";
  state.param_groups[0].options["amsgrad"] = false;
  EXPECT_THROW(ams.load_state_dict(state), Error) << "amsgrad cannot change on load";
}

// RMSprop with momentum and RMSprop centered both keep two state tensors, but different ones:
// set_options must compare the layout by name, not by count.
TEST(StateDict, SetOptionsKeepsTheStateLayoutByName) {
  Model model(Device::cpu(), 4);
  RMSprop opt(model.groups()[0], RMSpropOptions().momentum(0.9));
  run_steps(opt, model, 0, 1);
  const StateDict before = opt.state_dict();
  EXPECT_THROW(opt.set_options(0, RMSpropOptions().momentum(0.0).centered(true)), Error);
  EXPECT_EQ(difference(opt.state_dict(), before), "");
  EXPECT_NO_THROW(opt.set_options(0, RMSpropOptions().momentum(0.5)));
}

// ---- schedulers and averaging resume with the optimizer ---------------------------------------

// Every optimizer, implementation and executor: a run saved halfway with its scheduler
// (OneCycleLR, cycling momentum or beta1 where the optimizer has one) and an EMA of its first
// group, then resumed, equals the uninterrupted run bit for bit.
class ResumeWithSchedulerAndAveraging : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ResumeWithSchedulerAndAveraging, IsBitIdentical) {
  const ResumeCase& rc = GetParam();
  FUSEDOPT_USE_EXECUTOR(rc.executor);
  const Device device = rc.device;
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  auto make = [&](Model& m) {
    auto opt = rc.optimizer.make(m.groups(), 1.0);
    opt->set_impl(rc.impl);
    return opt;
  };
  // beta1, or a momentum the group keeps a buffer for (SGD and RMSprop without one cannot cycle)
  const auto cycled = [](const Optimizer& o) -> std::string {
    for (const char* name : {"beta1", "momentum"}) try {
        const double value = o.get(0, name);
        if (std::string(name) == "beta1" || value != 0.0) return name;
      } catch (const Error&) {
      }
    return "";
  };
  auto sched_of = [&](Optimizer& o) {
    const double max_lr = o.lr(0) * 2;
    return std::make_unique<OneCycleLR>(o, max_lr, kSteps, std::nullopt, std::nullopt, 0.3,
                                        AnnealStrategy::cos, !cycled(o).empty());
  };

  Model straight(device, seed);
  auto a = make(straight);
  auto sa = sched_of(*a);
  AveragedModel ema_a(straight.groups()[0], ema_decay(0.9));
  for (int s = 0; s < kSteps; ++s) {
    run_steps(*a, straight, s, s + 1);
    sa->step();
    ema_a.update();
  }

  Model resumed(device, seed);
  const std::string opt_path = temp_path("sched_opt_" + rc.optimizer.name),
                    avg_path = temp_path("sched_avg_" + rc.optimizer.name);
  SchedulerState sched_state;
  {
    auto b = make(resumed);
    auto sb = sched_of(*b);
    AveragedModel ema_b(resumed.groups()[0], ema_decay(0.9));
    for (int s = 0; s < kSteps / 2; ++s) {
      run_steps(*b, resumed, s, s + 1);
      sb->step();
      ema_b.update();
    }
    b->save(opt_path);
    ema_b.save(avg_path);
    sched_state = sb->state_dict();
  }
  // torch's order: optimizer, scheduler, then optimizer.load_state_dict, scheduler's.
  auto c = make(resumed);
  auto sc = sched_of(*c);
  AveragedModel ema_c(resumed.groups()[0], ema_decay(0.9));
  c->load(opt_path);
  sc->load_state_dict(sched_state);
  ema_c.load(avg_path);
  for (int s = kSteps / 2; s < kSteps; ++s) {
    run_steps(*c, resumed, s, s + 1);
    sc->step();
    ema_c.update();
  }
  EXPECT_EQ(difference(resumed.values(), straight.values()), "");
  EXPECT_EQ(difference(c->state_dict(), a->state_dict()), "");
  EXPECT_EQ(sc->state_dict(), sa->state_dict());
  for (std::size_t g = 0; g < a->num_param_groups(); ++g) {
    EXPECT_EQ(c->lr(g), a->lr(g));
    if (!cycled(*a).empty())
      EXPECT_EQ(c->get(g, cycled(*a)), a->get(g, cycled(*a))) << "OneCycleLR cycles it";
  }
  EXPECT_EQ(ema_c.n_averaged(), ema_a.n_averaged());
  const AveragedState x = ema_c.state_dict(), y = ema_a.state_dict();
  EXPECT_EQ(x.averaged, y.averaged);
  std::remove(opt_path.c_str());
  std::remove(avg_path.c_str());
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, ResumeWithSchedulerAndAveraging,
                         ::testing::ValuesIn(resume_cases(native_executors())), case_name);
INSTANTIATE_TEST_SUITE_P(Emulated, ResumeWithSchedulerAndAveraging,
                         ::testing::ValuesIn(resume_cases({Executor::emulated})), case_name);

// ---- NOTE(step-settings): impl, clipping and disabled parameters travel with the state ----------

/// Foreach, clipping at a norm every step exceeds (inf-norm in one case), and one parameter of
/// each of two groups disabled.
void set_step_settings(Optimizer& opt, double norm_type) {
  opt.set_impl(Impl::Foreach);
  opt.set_grad_clipping(0.05, norm_type);
  opt.set_param_enabled(0, 2, false);
  opt.set_param_enabled(1, 0, false);
}

void expect_step_settings(const Optimizer& opt, double norm_type) {
  EXPECT_EQ(opt.impl(), Impl::Foreach);
  EXPECT_EQ(opt.max_grad_norm(), 0.05);
  EXPECT_EQ(opt.grad_clip_norm_type(), norm_type);
  for (std::size_t g = 0; g < opt.num_param_groups(); ++g)
    for (std::size_t i = 0; i < opt.params(g).size(); ++i)
      EXPECT_EQ(opt.param_enabled(g, i), !((g == 0 && i == 2) || (g == 1 && i == 0)))
          << "param_groups[" << g << "].params[" << i << "]";
}

class StepSettingsResume : public ::testing::TestWithParam<ResumeCase> {};

/// A fresh optimizer (fused, no clipping, every parameter enabled) that loads the checkpoint
/// steps as the saved one did: without the settings the parameters would differ at once.
TEST_P(StepSettingsResume, RestoresImplClippingAndDisabledParameters) {
  const ResumeCase& c = GetParam();
  FUSEDOPT_USE_EXECUTOR(c.executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (const double norm_type : {2.0, double(INFINITY)}) {
    SCOPED_TRACE("norm_type " + std::to_string(norm_type));
    Model straight(c.device, seed);
    auto uninterrupted = c.optimizer.make(straight.groups(), 1.0);
    set_step_settings(*uninterrupted, norm_type);
    run_steps(*uninterrupted, straight, 0, kSteps);

    Model resumed(c.device, seed);
    const std::string path = temp_path("settings_" + c.optimizer.name);
    {
      auto first = c.optimizer.make(resumed.groups(), 1.0);
      set_step_settings(*first, norm_type);
      run_steps(*first, resumed, 0, kSteps / 2);
      first->save(path);
      const StateDict saved = first->state_dict();
      ASSERT_TRUE(saved.settings.has_value());
      EXPECT_EQ(saved.settings->disabled, (std::vector<std::int64_t>{2, 4}));
    }
    auto second = c.optimizer.make(resumed.groups(), 1.0);
    second->load(path);
    std::remove(path.c_str());
    expect_step_settings(*second, norm_type);
    run_steps(*second, resumed, kSteps / 2, kSteps);
    EXPECT_EQ(difference(resumed.values(), straight.values()), "");
    EXPECT_EQ(difference(second->state_dict(), uninterrupted->state_dict()), "");

    // In memory: load_state_dict carries them too.
    Model again(c.device, seed);
    auto third = c.optimizer.make(again.groups(), 1.0);
    set_step_settings(*third, norm_type);
    run_steps(*third, again, 0, kSteps / 2);
    auto fourth = c.optimizer.make(again.groups(), 1.0);
    fourth->load_state_dict(third->state_dict());
    third.reset();
    expect_step_settings(*fourth, norm_type);
    run_steps(*fourth, again, kSteps / 2, kSteps);
    EXPECT_EQ(difference(again.values(), straight.values()), "");
  }
}

/// A state without settings (a torch state, a file from before they were saved) keeps the
/// optimizer's own; one with settings replaces them, enabling what it does not list.
TEST(StepSettings, AbsentKeepsTheOptimizersOwnPresentReplacesThem) {
  Model model(Device::cpu(), 3);
  const OptimizerCase adamw = case_named("AdamW");
  auto source = adamw.make(model.groups(), 1.0);
  run_steps(*source, model, 0, 2);
  StateDict state = source->state_dict();
  ASSERT_TRUE(state.settings.has_value());
  EXPECT_EQ(*state.settings, StepSettings{});
  auto target = adamw.make(model.groups(), 1.0);
  set_step_settings(*target, 2.0);
  StateDict old = state;
  old.settings.reset();
  target->load_state_dict(old);
  expect_step_settings(*target, 2.0);
  const std::string path = temp_path("settings_absent");
  write_state_dict(old, path);
  target->load(path);
  expect_step_settings(*target, 2.0);
  EXPECT_FALSE(read_state_dict(path).settings.has_value());
  std::remove(path.c_str());
  target->load_state_dict(state);  // the defaults: fused, no clipping, all enabled
  EXPECT_EQ(target->impl(), Impl::Fused);
  EXPECT_EQ(target->max_grad_norm(), std::nullopt);
  EXPECT_TRUE(target->param_enabled(0, 2));
  EXPECT_TRUE(target->param_enabled(1, 0));
  // The in-memory form round-trips through a file, inf included.
  state.settings->impl = Impl::Loop;
  state.settings->max_norm = 3.5;
  state.settings->norm_type = INFINITY;
  state.settings->disabled = {0, 7};
  state.settings->error_if_nonfinite = true;
  write_state_dict(state, path);
  EXPECT_EQ(difference(read_state_dict(path), state), "");
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, StepSettingsResume,
    ::testing::ValuesIn([] {
      std::vector<ResumeCase> out;
      for (const OptimizerCase& o : all_optimizers())
        if (o.name == "AdamW" || o.name == "SGD_momentum")  // one adaptive, one not
          for (Executor executor : {Executor::cpu, Executor::emulated, Executor::cuda})
            out.push_back({o, executor, device_of(executor), Impl::Fused});
      return out;
    }()),
    case_name);

TEST(AveragedModelState, RejectsMismatchesAndKeepsItself) {
  Model model(Device::cpu(), 11);
  AveragedModel avg(model.groups()[0], ema_decay(0.5));
  avg.update();
  const AveragedState good = avg.state_dict();
  AveragedState bad = good;
  bad.averaged.pop_back();
  EXPECT_THROW(avg.load_state_dict(bad), Error);
  bad = good;
  bad.dtypes[1] = DType::bf16;
  EXPECT_THROW(avg.load_state_dict(bad), Error);
  bad = good;
  bad.averaged[2].resize(3);
  EXPECT_THROW(avg.load_state_dict(bad), Error);
  bad = good;
  bad.n_averaged = -1;
  EXPECT_THROW(avg.load_state_dict(bad), Error);
  const AveragedState now = avg.state_dict();
  EXPECT_EQ(now.averaged, good.averaged);
  EXPECT_EQ(now.n_averaged, good.n_averaged);
  const std::string path = temp_path("avg_bad");
  { std::ofstream(path, std::ios::binary) << "not a safetensors file"; }
  EXPECT_THROW(avg.load(path), Error);
  std::remove(path.c_str());
}

// ---- hostile input: every rejection leaves the optimizer as it was -----------------------------

class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::make_unique<Model>(Device::cpu(), 5);
    opt_ = std::make_unique<Adam>(
        std::vector<Adam::Group>{{model_->groups()[0], std::nullopt},
                                 {model_->groups()[1], AdamOptions().lr(0.5)}},
        AdamOptions().lr(1e-2).amsgrad(true));
    run_steps(*opt_, *model_, 0, 3);
    good_ = opt_->state_dict();
    path_ = temp_path("hostile");
    opt_->save(path_);
    bytes_ = detail::read_file(path_);
    // Change the optimizer after saving, so that a load that wrongly succeeds shows.
    run_steps(*opt_, *model_, 3, 4);
    opt_->set_lr(0, 0.25);
    before_ = opt_->state_dict();
  }
  void TearDown() override { std::remove(path_.c_str()); }

  /// Writes `bytes` to the file; load(path) must throw Error and change nothing.
  void expect_rejected_file(const std::vector<unsigned char>& bytes, const std::string& what) {
    {
      std::ofstream out(path_, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
    EXPECT_THROW(opt_->load(path_), Error) << what;
    EXPECT_EQ(difference(opt_->state_dict(), before_), "") << what << ": the optimizer changed";
  }
  void expect_rejected(const StateDict& state, const std::string& what) {
    EXPECT_THROW(opt_->load_state_dict(state), Error) << what;
    EXPECT_EQ(difference(opt_->state_dict(), before_), "") << what << ": the optimizer changed";
    // And through a file, where the value can be written at all.
    try {
      write_state_dict(state, path_);
    } catch (const Error&) {
      return;
    }
    EXPECT_THROW(opt_->load(path_), Error) << what << " (from a file)";
    EXPECT_EQ(difference(opt_->state_dict(), before_), "") << what << ": the optimizer changed";
  }
  detail::SafeTensors decoded() const {
    return detail::decode_safetensors(bytes_.data(), bytes_.size());
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Adam> opt_;
  StateDict good_, before_;
  std::string path_;
  std::vector<unsigned char> bytes_;
};

TEST_F(HostileInput, TheGoodFileLoads) {
  opt_->load(path_);
  EXPECT_EQ(difference(opt_->state_dict(), good_), "");
}

TEST_F(HostileInput, TruncatedFiles) {
  for (std::size_t size : {std::size_t(0), std::size_t(4), std::size_t(8), std::size_t(20),
                           bytes_.size() / 2, bytes_.size() - 4, bytes_.size() - 1})
    expect_rejected_file({bytes_.begin(), bytes_.begin() + std::ptrdiff_t(size)},
                         "truncated to " + std::to_string(size) + " bytes");
  std::vector<unsigned char> longer = bytes_;
  longer.push_back(0);
  expect_rejected_file(longer, "one trailing byte");
}

TEST_F(HostileInput, WrongHeaderLength) {
  for (std::uint64_t length : {std::uint64_t(0), std::uint64_t(1), std::uint64_t(bytes_.size()),
                               std::uint64_t(1) << 40, ~std::uint64_t(0)}) {
    std::vector<unsigned char> bytes = bytes_;
    for (int i = 0; i < 8; ++i)
      bytes[std::size_t(i)] = static_cast<unsigned char>(length >> (8 * i));
    expect_rejected_file(bytes, "header length " + std::to_string(length));
  }
  std::uint64_t real = 0;
  for (int i = 7; i >= 0; --i) real = (real << 8) | bytes_[std::size_t(i)];
  for (std::uint64_t length : {real - 1, real + 1}) {
    std::vector<unsigned char> bytes = bytes_;
    for (int i = 0; i < 8; ++i)
      bytes[std::size_t(i)] = static_cast<unsigned char>(length >> (8 * i));
    expect_rejected_file(bytes, "header length off by one: " + std::to_string(length));
  }
}

TEST_F(HostileInput, WrongDtypeShapeAndOffsets) {
  {
    detail::SafeTensors file = decoded();
    auto& t = file.tensors.at("state.2.exp_avg");  // the same bytes as twice as many F16
    t.dtype = "F16";
    t.shape = {2 * t.shape[0]};
    expect_rejected_file(detail::encode_safetensors(file), "exp_avg as F16");
  }
  {
    detail::SafeTensors file = decoded();
    auto& t = file.tensors.at("state.2.exp_avg_sq");
    t.dtype = "F64";
    t.shape = {std::int64_t(t.bytes.size() / 8)};
    expect_rejected_file(detail::encode_safetensors(file), "exp_avg_sq as F64");
  }
  {
    detail::SafeTensors file = decoded();
    file.tensors.at("state.1.step").dtype = "I32";
    expect_rejected_file(detail::encode_safetensors(file), "unsupported dtype I32");
  }
  {
    detail::SafeTensors file = decoded();
    auto& t = file.tensors.at("state.2.exp_avg");
    t.shape = {t.shape[0] / 2, 2};  // rank 2 (numel 999 + padding aside)
    t.bytes.resize(std::size_t(t.shape[0] * 2) * 4);
    expect_rejected_file(detail::encode_safetensors(file), "rank-2 state tensor");
  }
  {
    detail::SafeTensors file = decoded();
    file.tensors.at("state.2.exp_avg").shape = {999};  // 1000 elements of bytes
    expect_rejected_file(detail::encode_safetensors(file), "shape disagrees with data_offsets");
  }
  {
    detail::SafeTensors file = decoded();
    file.tensors["state.1.bogus"] = {"F32", {1}, std::vector<unsigned char>(4)};
    expect_rejected_file(detail::encode_safetensors(file), "an unknown state tensor");
  }
  {
    detail::SafeTensors file = decoded();
    file.tensors.erase("state.3.max_exp_avg_sq");
    expect_rejected_file(detail::encode_safetensors(file), "a missing state tensor");
  }
  {
    detail::SafeTensors file = decoded();
    file.tensors.erase("state.3.step");
    expect_rejected_file(detail::encode_safetensors(file), "a missing step");
  }
  {
    detail::SafeTensors file = decoded();
    file.tensors["weird"] = {"F32", {1}, std::vector<unsigned char>(4)};
    expect_rejected_file(detail::encode_safetensors(file), "a tensor not named state.<id>.<key>");
  }
  {
    detail::SafeTensors file = decoded();
    file.metadata["format"] = "something.else";
    expect_rejected_file(detail::encode_safetensors(file), "wrong format tag");
  }
  {
    detail::SafeTensors file = decoded();
    file.metadata["param_groups"] = "[{\"lr\": 0.1,";
    expect_rejected_file(detail::encode_safetensors(file), "broken param_groups JSON");
  }
  {
    detail::SafeTensors file = decoded();
    file.metadata.erase("param_groups");
    expect_rejected_file(detail::encode_safetensors(file), "no param_groups");
  }
  // Overlapping and out-of-range offsets, written by hand.
  for (
      const char* header :
      {R"({"state.0.step":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"state.0.x":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
       R"({"state.0.step":{"dtype":"F32","shape":[],"data_offsets":[0,400]}})",
       R"({"state.0.step":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
       R"({"state.0.step":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
       R"({"state.0.step":{"dtype":"F32","shape":[],"data_offsets":[4,0]}})",
       R"({"state.0.step":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":1}})",
       R"({"__metadata__":{"format":1}})", R"([1,2,3])", R"("text")", R"({"a":)"}) {
    const std::string text = header;
    std::vector<unsigned char> bytes(8 + text.size() + 8, 0);
    for (int i = 0; i < 8; ++i)
      bytes[std::size_t(i)] = static_cast<unsigned char>(std::uint64_t(text.size()) >> (8 * i));
    std::memcpy(bytes.data() + 8, text.data(), text.size());
    expect_rejected_file(bytes, std::string("header ") + header);
  }
}

TEST_F(HostileInput, WrongOptimizerGroupsAndParameters) {
  StateDict s = good_;
  s.optimizer = "AdamW";
  expect_rejected(s, "another optimizer type");
  s = good_;
  s.param_groups.pop_back();
  expect_rejected(s, "one group fewer");
  s = good_;
  s.param_groups.push_back(s.param_groups.back());
  expect_rejected(s, "one group more");
  s = good_;
  s.param_groups[1].params.pop_back();
  expect_rejected(s, "one parameter fewer");
  s = good_;
  s.param_groups[1].params.push_back(99);
  expect_rejected(s, "one parameter more");
  s = good_;
  s.param_groups[1].params[0] = 0;
  expect_rejected(s, "a parameter id twice");
  s = good_;
  s.state[42] = s.state.at(1);
  expect_rejected(s, "state of an unknown parameter id");
  s = good_;
  s.state.at(2).tensors.at("exp_avg").pop_back();
  expect_rejected(s, "wrong numel");
  s = good_;
  s.state.at(2).tensors.at("exp_avg").push_back(1.0f);
  expect_rejected(s, "wrong numel (one more)");
  s = good_;
  s.state.at(2).scalars["mu_product"] = 0.5;
  expect_rejected(s, "scalar state Adam does not have");
  for (double step : {-1.0, 0.5, 1e9, std::nan(""), HUGE_VAL}) {
    s = good_;
    s.state.at(2).step = step;
    expect_rejected(s, "step " + std::to_string(step));
  }
}

TEST_F(HostileInput, BadOrNonFiniteHyperParameters) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, HyperValue>>{{"lr", std::nan("")},
                                                       {"lr", inf},
                                                       {"lr", -1.0},
                                                       {"eps", -inf},
                                                       {"weight_decay", std::nan("")},
                                                       {"betas", std::make_pair(0.9, inf)},
                                                       {"betas", std::make_pair(std::nan(""), 0.9)},
                                                       {"betas", std::make_pair(1.0, 0.9)},
                                                       {"lr", true},
                                                       {"amsgrad", 1.0},
                                                       {"betas", 0.9}}) {
    StateDict s = good_;
    s.param_groups[1].options[key] = value;
    expect_rejected(s, "param_groups[1]." + key);
  }
  StateDict s = good_;
  s.param_groups[0].options.erase("eps");
  expect_rejected(s, "a missing option");
  s = good_;
  s.param_groups[0].options["momentum"] = 0.9;
  expect_rejected(s, "an option Adam does not have");
  s = good_;
  s.param_groups[0].initial_lr = std::nan("");
  expect_rejected(s, "non-finite initial_lr");
  // JSON written by hand: null, strings and nested objects where numbers belong.
  for (
      const char* groups :
      {R"([{"lr":null,"betas":[0.9,0.999],"eps":1e-8,"weight_decay":0,"amsgrad":true,"maximize":false,"params":[0,1,2,3]},{"lr":0.5,"betas":[0.9,0.999],"eps":1e-8,"weight_decay":0,"amsgrad":true,"maximize":false,"params":[4,5]}])",
       R"([{"lr":"0.1","params":[0,1,2,3]}])", R"([{"lr":{"a":1},"params":[0]}])",
       R"([{"params":[0.5]}])", R"([{"lr":0.1}])", R"({})", R"([1])"}) {
    detail::SafeTensors file = decoded();
    file.metadata["param_groups"] = groups;
    expect_rejected_file(detail::encode_safetensors(file), std::string("param_groups ") + groups);
  }
}

// NOTE(step-settings): bad settings in memory and in a file's JSON.
TEST_F(HostileInput, BadStepSettings) {
  const StepSettings good = *good_.settings;
  for (const auto& [what, change] :
       std::vector<std::pair<std::string, std::function<void(StepSettings&)>>>{
           {"max_norm nan", [](StepSettings& s) { s.max_norm = std::nan(""); }},
           {"max_norm inf", [](StepSettings& s) { s.max_norm = INFINITY; }},
           {"max_norm < 0", [](StepSettings& s) { s.max_norm = -1.0; }},
           {"norm_type 0", [](StepSettings& s) { s.max_norm = 1.0; s.norm_type = 0.0; }},
           {"norm_type nan", [](StepSettings& s) { s.max_norm = 1.0; s.norm_type = std::nan(""); }},
           {"unknown id", [](StepSettings& s) { s.disabled = {1, 99}; }},
           {"negative id", [](StepSettings& s) { s.disabled = {-1}; }},
           {"an id twice", [](StepSettings& s) { s.disabled = {3, 3}; }}}) {
    StateDict s = good_;
    s.settings = good;
    change(*s.settings);
    expect_rejected(s, "settings: " + what);
  }
  for (const char* settings :
       {R"({"impl":"fused","max_norm":null,"norm_type":2})",
        R"({"impl":"fused","max_norm":null,"norm_type":2,"disabled":[],"extra":1})",
        R"({"impl":"Fused","max_norm":null,"norm_type":2,"disabled":[]})",
        R"({"impl":2,"max_norm":null,"norm_type":2,"disabled":[]})",
        R"({"impl":"loop","max_norm":"1","norm_type":2,"disabled":[]})",
        R"({"impl":"loop","max_norm":1,"norm_type":"-inf","disabled":[]})",
        R"({"impl":"loop","max_norm":1,"norm_type":-2,"disabled":[]})",
        R"({"impl":"loop","max_norm":1,"norm_type":2,"disabled":[0.5]})",
        R"({"impl":"loop","max_norm":1,"norm_type":2,"disabled":[18446744073709551615]})",
        R"({"impl":"loop","max_norm":1,"norm_type":2,"disabled":{}})",
        R"({"impl":"loop","max_norm":1,"norm_type":2,"disabled":[],"error_if_nonfinite":1})",
        R"([])", R"("fused")", R"({"impl":)", R"([[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]])"}) {
    detail::SafeTensors file = decoded();
    file.metadata["settings"] = settings;
    expect_rejected_file(detail::encode_safetensors(file), std::string("settings ") + settings);
  }
  // The good file's settings, by hand: loads.
  detail::SafeTensors file = decoded();
  file.metadata["settings"] = R"({"disabled":[1],"norm_type":"inf","max_norm":0.5,"impl":"loop"})";
  const std::vector<unsigned char> bytes = detail::encode_safetensors(file);
  opt_->load_bytes(bytes.data(), bytes.size());
  EXPECT_EQ(opt_->impl(), Impl::Loop);
  EXPECT_EQ(opt_->max_grad_norm(), 0.5);
  EXPECT_EQ(opt_->grad_clip_norm_type(), INFINITY);
  EXPECT_FALSE(opt_->param_enabled(0, 1));
  EXPECT_TRUE(opt_->param_enabled(0, 0));
}

TEST_F(HostileInput, RandomBytesAndMutationsNeverCrash) {
  std::mt19937_64 rng(fresh_seed());
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 200; ++round) {
    std::vector<unsigned char> bytes(std::size_t(rng() % 512));
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(byte(rng));
    expect_rejected_file(bytes, "random bytes, round " + std::to_string(round));
  }
  // Mutations of the good file: either the load succeeds (a flipped data byte is a valid
  // state) or it throws Error and changes nothing; it never crashes.
  for (int round = 0; round < 300; ++round) {
    std::vector<unsigned char> bytes = bytes_;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const std::size_t at =
          rng() % (round % 2 ? bytes.size() : std::min<std::size_t>(bytes.size(), 600));
      bytes[at] = static_cast<unsigned char>(byte(rng));
    }
    {
      std::ofstream out(path_, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
    const StateDict now = opt_->state_dict();
    try {
      opt_->load(path_);
    } catch (const Error&) {
      EXPECT_EQ(difference(opt_->state_dict(), now), "") << "round " << round;
    }
  }
}

TEST(Save, IsAtomicAndReportsErrors) {
  Model model(Device::cpu(), 2);
  SGD opt(model.groups()[0], SGDOptions().momentum(0.9));
  run_steps(opt, model, 0, 1);
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("fusedopt_save_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "opt.safetensors").string();
  { std::ofstream(path) << "old contents"; }
  opt.save(path);
  // Only the target: no temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_NO_THROW(opt.load(path));
  // A directory in the way: rename fails, the directory and its contents stay.
  fs::create_directories(dir / "blocked" / "inside");
  EXPECT_THROW(opt.save((dir / "blocked").string()), Error);
  EXPECT_TRUE(fs::is_directory(dir / "blocked" / "inside"));
  EXPECT_THROW(opt.save((dir / "no_such_dir" / "x.safetensors").string()), Error);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  EXPECT_THROW(opt.load((dir / "missing.safetensors").string()), Error);
  fs::remove_all(dir);
}

// ---- hostile files, names and streams ---------------------------------------------------------

/// A safetensors file from its header text and data bytes, however wrong they are.
std::vector<unsigned char> raw_file(const std::string& header, const std::string& data = "") {
  std::vector<unsigned char> out(8);
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = static_cast<unsigned char>(header.size() >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

/// A fusedopt checkpoint header with `param_groups` (JSON text) and one step tensor.
std::string checkpoint_header(const std::string& optimizer, const std::string& param_groups) {
  std::string escaped;
  for (char c : param_groups) escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
  return R"({"__metadata__":{"format":"fusedopt.optimizer","format_version":"1","optimizer":")" +
         optimizer + R"(","param_groups":")" + escaped +
         R"("},"state.0.step":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})";
}

class HostileFile : public HostileInput {
 protected:
  /// Rejected by load(path), load_bytes and parse_state_dict, each with a short message.
  /// `parse_rejects`: false where the container is valid and only the load must fail.
  void expect_rejected_everywhere(const std::vector<unsigned char>& bytes, const std::string& what,
                                  bool parse_rejects = true) {
    expect_rejected_file(bytes, what);
    try {
      opt_->load_bytes(bytes.data(), bytes.size());
      ADD_FAILURE() << what << ": load_bytes accepted it";
    } catch (const Error& e) {
      EXPECT_LT(std::strlen(e.what()), 1000u) << what << ": " << std::string(e.what()).substr(0, 300);
    }
    EXPECT_EQ(difference(opt_->state_dict(), before_), "") << what << ": the optimizer changed";
    if (parse_rejects) EXPECT_THROW(parse_state_dict(bytes.data(), bytes.size()), Error) << what;
  }
};

TEST_F(HostileFile, DeeplyNestedHeader) {
  // 1 MB of nesting, where a recursive parser or printer would overflow the stack.
  constexpr std::size_t kDepth = 500000;
  const std::string nest = std::string(kDepth, '[') + std::string(kDepth, ']');
  expect_rejected_everywhere(
      raw_file(R"({"state.0.step":{"dtype":"F32","shape":)" + nest + R"(,"data_offsets":[0,4]}})",
               "abcd"),
      "nesting in a shape");
  expect_rejected_everywhere(
      raw_file(R"({"__metadata__":{"format":)" + nest + "}}"), "nesting in the metadata");
  expect_rejected_everywhere(raw_file(checkpoint_header("Adam", "[" + nest + "]"), "abcd"),
                             "nesting in param_groups");
  expect_rejected_everywhere(
      raw_file(checkpoint_header("Adam", R"([{"params":[0],"lr":)" + nest + "}]"), "abcd"),
      "nesting in an option value");
  // Shallow nesting where a number belongs is an ordinary error, named.
  try {
    const std::vector<unsigned char> file =
        raw_file(checkpoint_header("Adam", R"([{"params":[0],"lr":[[[1]]]}])"), "abcd");
    parse_state_dict(file.data(), file.size());
    ADD_FAILURE() << "accepted an array as lr";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("param_groups[0][\"lr\"] must be a number, a bool or a pair"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(HostileFile, HugeShapesOffsetsAndManyTensors) {
  expect_rejected_everywhere(
      raw_file(R"({"a":{"dtype":"F32","shape":[70368744177664],"data_offsets":[0,4]}})", "abcd"),
      "shape 2^46");
  expect_rejected_everywhere(
      raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})",
               "abcd"),
      "offsets near 2^64");
  expect_rejected_everywhere(
      raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})",
               "abcd"),
      "a shape whose product overflows");
  // 20,000 tensors of one step each: a valid container, but no such parameters.
  std::string header = checkpoint_header("Adam", R"([{"params":[0]}])");
  header.pop_back();
  std::string data;
  for (int i = 1; i <= 20000; ++i) {
    header += ",\"state." + std::to_string(i) + ".step\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[" +
              std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
  }
  header += "}";
  data.assign(4 * 20001, '\0');
  expect_rejected_everywhere(raw_file(header, data), "20,000 tensors", false);
}

TEST_F(HostileFile, LongStringsAreCutInMessages) {
  const std::string huge(5u << 20, 'x');
  expect_rejected_everywhere(raw_file(checkpoint_header(huge, R"([{"params":[0]}])"), "abcd"),
                             "a 5 MB optimizer name", false);
  expect_rejected_everywhere(
      raw_file("{\"" + huge + "\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", "abcd"),
      "a 5 MB tensor name");
  expect_rejected_everywhere(
      raw_file(R"({"__metadata__":{"format":")" + huge + R"("}})"), "a 5 MB format tag");
  expect_rejected_everywhere(
      raw_file(R"({"a":{"dtype":")" + huge + R"(","shape":[],"data_offsets":[0,4]}})", "abcd"),
      "a 5 MB dtype");
  // Control characters are escaped, not printed.
  try {
    const std::vector<unsigned char> file = raw_file(checkpoint_header("Ad\\u001bam", R"([{"params":[0]}])"), "abcd");
    opt_->load_bytes(file.data(), file.size());
    ADD_FAILURE() << "accepted an optimizer named Ad\\x1bam";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"Ad\\x1bam\""), std::string::npos) << e.what();
  }
}

TEST_F(HostileFile, FifosDevicesAndDirectoriesAreRefusedWithoutBlocking) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("fusedopt_fifo_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string fifo = (dir / "pipe").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Run the load on a thread: if it blocked on the FIFO, opening the write end unblocks it.
  std::atomic<bool> done{false};
  std::string message;
  std::thread loader([&] {
    try {
      opt_->load(fifo);
    } catch (const Error& e) {
      message = e.what();
    }
    done = true;
  });
  for (int i = 0; i < 1000 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!done) {
    ADD_FAILURE() << "load() of a FIFO blocked";
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  loader.join();
  EXPECT_NE(message.find("is not a regular file"), std::string::npos) << message;
  for (const std::string& device : {std::string("/dev/zero"), std::string("/dev/null")}) {
    try {
      opt_->load(device);
      ADD_FAILURE() << device << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
    }
  }
  try {
    opt_->load(dir.string());
    ADD_FAILURE() << "a directory loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_state_dict(fifo), Error);
  EXPECT_THROW(read_state_dict("/dev/zero"), Error);
  EXPECT_EQ(difference(opt_->state_dict(), before_), "");
  fs::remove_all(dir);
}

TEST_F(HostileFile, SaveAndLoadThroughMemory) {
  // save_bytes holds what save writes; load_bytes restores it.
  opt_->load(path_);
  const std::vector<unsigned char> bytes = opt_->save_bytes();
  EXPECT_EQ(bytes, detail::read_file(path_));
  run_steps(*opt_, *model_, 3, 4);
  opt_->load_bytes(bytes.data(), bytes.size());
  EXPECT_EQ(difference(opt_->state_dict(), good_), "");
  // The whole-StateDict writer and the streaming reader agree, and the reverse.
  write_state_dict(good_, path_);
  EXPECT_EQ(detail::read_file(path_), bytes);
  EXPECT_EQ(difference(parse_state_dict(bytes.data(), bytes.size()), good_), "");
  run_steps(*opt_, *model_, 3, 4);
  before_ = opt_->state_dict();
  EXPECT_THROW(opt_->load_bytes(nullptr, 10), Error);
  EXPECT_THROW(opt_->load_bytes(bytes.data(), bytes.size() - 1), Error);
  EXPECT_THROW(opt_->load_bytes(bytes.data(), 7), Error);
  EXPECT_EQ(difference(opt_->state_dict(), before_), "");
}

/// A source whose reads of more than 8 bytes (not a step or scalar) fail from `fail_from` on.
class FailingSource final : public detail::ByteSource {
 public:
  FailingSource(const std::vector<unsigned char>& bytes, std::uint64_t fail_from)
      : inner_(bytes.data(), bytes.size()), fail_at_(fail_from) {}
  std::uint64_t size() const override { return inner_.size(); }
  void read(std::uint64_t offset, void* out, std::size_t n) override {
    if (n > 8 && offset + n > fail_at_)
      throw Error("injected read error at byte " + std::to_string(offset));
    inner_.read(offset, out, n);
  }

 private:
  detail::MemorySource inner_;
  std::uint64_t fail_at_;
};

TEST_F(HostileFile, AReadFailingAfterValidationIsReportedAndBlocksTheStep) {
  // Past the header: fails while streaming the state tensors.
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | bytes_[std::size_t(i)];
  FailingSource source(bytes_, 8 + header_bytes + 4000);
  try {
    detail::CheckpointAccess::load(*opt_, source);
    ADD_FAILURE() << "the failing load succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("partly overwritten"), std::string::npos) << e.what();
  }
  for (const auto& call : std::vector<std::function<void()>>{
           [&] { opt_->step(); }, [&] { opt_->save_bytes(); }, [&] { opt_->state_dict(); }}) {
    try {
      call();
      ADD_FAILURE() << "a torn optimizer ran";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("state is incomplete: a test load failed"),
                std::string::npos)
          << e.what();
    }
  }
  // A successful load repairs it.
  opt_->load(path_);
  EXPECT_EQ(difference(opt_->state_dict(), good_), "");
  EXPECT_NO_THROW(opt_->step());
  // A source failing in the header changes nothing and tears nothing.
  FailingSource early(bytes_, 100);
  EXPECT_THROW(detail::CheckpointAccess::load(*opt_, early), Error);
  EXPECT_NO_THROW(opt_->step());
}

TEST(AveragedModelFile, StreamsAndRefusesHostileFiles) {
  GuardedTensor w(70000, DType::bf16, Device::cpu()), b(5, DType::f32, Device::cpu());
  std::mt19937_64 rng(fresh_seed());
  w.set(random_values(rng, 70000, 1.0, DType::bf16));
  b.set(random_values(rng, 5, 1.0, DType::f32));
  AveragedModel avg(std::vector<TensorView>{w.view(), b.view()});
  avg.update();
  w.set(random_values(rng, 70000, 1.0, DType::bf16));
  avg.update();
  const AveragedState good = avg.state_dict();
  const std::string path = temp_path("avg_stream");
  avg.save(path);
  // The file is what the whole-file writer would produce, and loads back.
  const detail::SafeTensors file = [&] {
    const std::vector<unsigned char> bytes = detail::read_file(path);
    return detail::decode_safetensors(bytes.data(), bytes.size());
  }();
  EXPECT_EQ(file.metadata.at("n_averaged"), "2");
  EXPECT_EQ(file.tensors.at("averaged.0").dtype, "BF16");
  EXPECT_EQ(file.tensors.at("averaged.0").bytes, good.averaged[0]);
  avg.update();
  avg.load(path);
  EXPECT_EQ(avg.state_dict().averaged, good.averaged);
  EXPECT_EQ(avg.n_averaged(), 2);
  // Hostile: a FIFO-free device, a directory, a huge format tag, a wrong size.
  for (const std::string& bad : {std::string("/dev/zero"), ::testing::TempDir()}) {
    try {
      avg.load(bad);
      ADD_FAILURE() << bad << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("regular file"), std::string::npos) << e.what();
    }
  }
  detail::SafeTensors wrong = file;
  wrong.metadata["format"] = std::string(1 << 20, 'f');
  detail::write_file_atomically(path, detail::encode_safetensors(wrong));
  try {
    avg.load(path);
    ADD_FAILURE() << "a wrong format loaded";
  } catch (const Error& e) {
    EXPECT_LT(std::strlen(e.what()), 1000u);
  }
  wrong = file;
  wrong.tensors["averaged.1"].shape = {4};
  wrong.tensors["averaged.1"].bytes.resize(16);
  detail::write_file_atomically(path, detail::encode_safetensors(wrong));
  EXPECT_THROW(avg.load(path), Error);
  EXPECT_EQ(avg.state_dict().averaged, good.averaged);
  EXPECT_EQ(avg.n_averaged(), 2);
  std::remove(path.c_str());
}

TEST(Save, LongFileNames) {
  Model model(Device::cpu(), 2);
  SGD opt(model.groups()[0], SGDOptions().momentum(0.9));
  run_steps(opt, model, 0, 1);
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("fusedopt_long_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const std::size_t length : {200u, 240u, 255u}) {  // 255: NAME_MAX on Linux file systems
    const std::string path = (dir / std::string(length, 'n')).string();
    ASSERT_NO_THROW(opt.save(path)) << length;
    EXPECT_NO_THROW(opt.load(path)) << length;
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 3);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fusedopt::testing
