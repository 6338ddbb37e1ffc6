// Checkpoint files as they are kept on disk:
// - committed fixtures (tests/fixtures/checkpoints/) still load, into the values the same
//   deterministic run gives today: a format change that breaks old files fails here;
// - state larger than one I/O block (4 MiB) and one dtype-conversion block (1M elements), so
//   the streaming loops' later iterations run;
// - another format_version is refused by both loaders, which then change nothing.
//
// NOTE(checkpoint-fixtures): the fixtures are written by this suite itself:
//   FUSEDOPT_WRITE_FIXTURES=tests/fixtures/checkpoints build/cpu/tests/fusedopt_tests \
//     --gtest_filter='CheckpointFixtures.*'
// Regenerate them only when an optimizer's numerics change on purpose; a change of the file
// format must keep the committed files loadable instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {
namespace fs = std::filesystem;

constexpr int kFixtureSteps = 3;

/// Exact in every dtype: small integers over powers of two.
double fixture_value(std::int64_t e) { return double((e * 5) % 11 - 5) / 16.0; }
double fixture_grad(std::int64_t e, int step) { return double((e * 7 + step * 3) % 17 - 8) / 64.0; }

struct FixtureModel {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<Param> params;
  FixtureModel(const std::vector<std::int64_t>& sizes, DType dtype) {
    for (const std::int64_t n : sizes) {
      values.push_back(std::make_unique<GuardedTensor>(n, dtype, Device::cpu()));
      grads.push_back(std::make_unique<GuardedTensor>(n, dtype, Device::cpu()));
      std::vector<double> v(static_cast<std::size_t>(n));
      for (std::int64_t e = 0; e < n; ++e) v[std::size_t(e)] = fixture_value(e);
      values.back()->set(v);
      params.push_back({values.back()->view(), grads.back()->view()});
    }
  }
  void set_grads(int step) {
    for (auto& g : grads) {
      std::vector<double> v(static_cast<std::size_t>(g->numel()));
      for (std::int64_t e = 0; e < g->numel(); ++e) v[std::size_t(e)] = fixture_grad(e, step);
      g->set(v);
    }
  }
  /// Parameter values change as training would (for the averaged model).
  void nudge(int step) {
    for (auto& t : values) {
      std::vector<double> v = t->get();
      for (std::size_t e = 0; e < v.size(); ++e) v[e] += fixture_grad(std::int64_t(e), step);
      t->set(v);
    }
  }
  void copy_values_from(const FixtureModel& other) {
    for (std::size_t i = 0; i < values.size(); ++i) values[i]->set(other.values[i]->get());
  }
};

struct FixtureCase {
  std::string name;  // the file is <name>.safetensors
  DType dtype;
  Precision precision;
  bool settings = false;  // NOTE(step-settings): foreach, clipping, a disabled parameter
};

/// `trained`: the optimizer of the run that writes the file; the one that loads it is made
/// with defaults and must take the settings from the file.
std::unique_ptr<Optimizer> make_fixture_optimizer(const FixtureCase& c, const FixtureModel& m,
                                                  bool trained) {
  auto opt = std::make_unique<AdamW>(
      m.params, AdamWOptions().lr(1e-2).betas({0.8, 0.95}).weight_decay(0.1).amsgrad(true));
  opt->set_precision(c.precision);
  if (c.settings && trained) {
    opt->set_impl(Impl::Foreach);
    opt->set_grad_clipping(0.5, INFINITY);
    opt->set_param_enabled(0, 1, false);
  }
  return opt;
}

std::string fixture_path(const std::string& name) {
  return std::string(FUSEDOPT_TEST_FIXTURE_DIR) + "/checkpoints/" + name + ".safetensors";
}

const char* write_dir() { return std::getenv("FUSEDOPT_WRITE_FIXTURES"); }

class CheckpointFixtures : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(CheckpointFixtures, LoadIntoTheValuesOfTheSameRun) {
  const FixtureCase& c = GetParam();
  const std::vector<std::int64_t> sizes = {5, 70, 1};
  FixtureModel trained(sizes, c.dtype);
  auto opt = make_fixture_optimizer(c, trained, /*trained=*/true);
  for (int step = 0; step < kFixtureSteps; ++step) {
    trained.set_grads(step);
    opt->step();
  }
  if (const char* dir = write_dir()) {
    opt->save(std::string(dir) + "/" + c.name + ".safetensors");
    return;
  }
  const std::string path = fixture_path(c.name);
  ASSERT_TRUE(fs::exists(path)) << path << " is missing (NOTE(checkpoint-fixtures))";
  FixtureModel resumed(sizes, c.dtype);
  resumed.copy_values_from(trained);
  auto loaded = make_fixture_optimizer(c, resumed, /*trained=*/false);
  loaded->load(path);
  EXPECT_EQ(difference(loaded->state_dict(), opt->state_dict()), "");  // the settings too
  if (c.settings) {
    EXPECT_EQ(loaded->impl(), Impl::Foreach);
    EXPECT_EQ(loaded->grad_clip_norm_type(), INFINITY);
    EXPECT_FALSE(loaded->param_enabled(0, 1));
  }
  EXPECT_EQ(loaded->precision(0), c.precision);
  // And the run continues as it would have: one more step, the same parameter bits.
  trained.set_grads(kFixtureSteps);
  resumed.set_grads(kFixtureSteps);
  opt->step();
  loaded->step();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto want = trained.values[i]->get(), got = resumed.values[i]->get();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t e = 0; e < got.size(); ++e)
      ASSERT_EQ(got[e], want[e]) << "parameter " << i << " element " << e;
  }
}

Precision with_state_dtype(DType dtype) {
  Precision p;
  p.state_dtype = dtype;
  return p;
}
Precision with_master_weights() {
  Precision p;
  p.master_weights = true;
  return p;
}

INSTANTIATE_TEST_SUITE_P(
    Committed, CheckpointFixtures,
    ::testing::Values(FixtureCase{"adamw_f32", DType::f32, Precision{}},
                      FixtureCase{"adamw_bf16_state", DType::bf16, with_state_dtype(DType::bf16)},
                      FixtureCase{"adamw_bf16_master_weights", DType::bf16, with_master_weights()},
                      FixtureCase{"adamw_f32_settings", DType::f32, Precision{}, true}),
    [](const ::testing::TestParamInfo<FixtureCase>& info) { return info.param.name; });

/// NOTE(step-settings): the files written before settings were saved load with the loading
/// optimizer's own impl, clipping and disabled parameters kept.
TEST(CheckpointFixtures, FilesWithoutSettingsKeepTheOptimizersOwn) {
  const FixtureCase c{"adamw_f32", DType::f32, Precision{}};
  FixtureModel model({5, 70, 1}, DType::f32);
  auto opt = make_fixture_optimizer(c, model, /*trained=*/false);
  opt->set_impl(Impl::Loop);
  opt->set_grad_clipping(0.25, 1.0);
  opt->set_param_enabled(0, 2, false);
  opt->load(fixture_path(c.name));
  EXPECT_EQ(opt->impl(), Impl::Loop);
  EXPECT_EQ(opt->max_grad_norm(), 0.25);
  EXPECT_EQ(opt->grad_clip_norm_type(), 1.0);
  EXPECT_TRUE(opt->param_enabled(0, 0));
  EXPECT_FALSE(opt->param_enabled(0, 2));
  EXPECT_FALSE(read_state_dict(fixture_path(c.name)).settings.has_value());
}

TEST(CheckpointFixtures, AveragedModelLoadsIntoTheValuesOfTheSameRun) {
  FixtureModel f32({5, 70}, DType::f32), bf16({9}, DType::bf16);
  std::vector<Param> params = f32.params;
  params.push_back(bf16.params[0]);
  AveragedModel ema(params, ema_decay(0.75));
  for (int step = 0; step < kFixtureSteps; ++step) {
    f32.nudge(step);
    bf16.nudge(step);
    ema.update();
  }
  if (const char* dir = write_dir()) {
    ema.save(std::string(dir) + "/ema_f32_bf16.safetensors");
    return;
  }
  const std::string path = fixture_path("ema_f32_bf16");
  ASSERT_TRUE(fs::exists(path)) << path << " is missing (NOTE(checkpoint-fixtures))";
  FixtureModel f32_again({5, 70}, DType::f32), bf16_again({9}, DType::bf16);
  std::vector<Param> params_again = f32_again.params;
  params_again.push_back(bf16_again.params[0]);
  AveragedModel loaded(params_again, ema_decay(0.75));
  loaded.load(path);
  const AveragedState want = ema.state_dict(), got = loaded.state_dict();
  EXPECT_EQ(got.n_averaged, kFixtureSteps);
  EXPECT_EQ(got.dtypes, want.dtypes);
  EXPECT_EQ(got.averaged, want.averaged);
}

/// NOTE(training-checkpoint): the container of optimizer, scheduler, averaged model and scaler
/// (also a seed of the checkpoint fuzzer, whose targets have these shapes).
struct TrainingFixture {
  FixtureModel model{{5, 70, 1}, DType::f32};
  AdamW opt{model.params,
            AdamWOptions().lr(1e-2).betas({0.8, 0.95}).weight_decay(0.1).amsgrad(true)};
  StepLR sched{opt, 2, 0.5};
  AveragedModel ema{model.params, ema_decay(0.75)};
  GradScaler scaler{Device::cpu(), GradScalerOptions().init_scale(256.0).growth_interval(2)};
  GradList grads{opt};
  TrainingState state() { return {&opt, {&sched}, {&ema}, &scaler}; }
  void step(int step) {
    model.set_grads(step);  // the loss scale is not applied: the steps divide by it
    scaler.step(opt, grads);
    scaler.update();
    sched.step();
    ema.update();
  }
};

TEST(CheckpointFixtures, TrainingCheckpointLoadsIntoTheValuesOfTheSameRun) {
  TrainingFixture trained;
  for (int step = 0; step < kFixtureSteps; ++step) trained.step(step);
  if (const char* dir = write_dir()) {
    save_training_checkpoint(trained.state(), std::string(dir) + "/training_adamw.safetensors");
    return;
  }
  const std::string path = fixture_path("training_adamw");
  ASSERT_TRUE(fs::exists(path)) << path << " is missing (NOTE(checkpoint-fixtures))";
  TrainingFixture resumed;
  resumed.model.copy_values_from(trained.model);
  load_training_checkpoint(resumed.state(), path);
  EXPECT_EQ(difference(resumed.opt.state_dict(), trained.opt.state_dict()), "");
  EXPECT_EQ(resumed.sched.state_dict(), trained.sched.state_dict());
  EXPECT_EQ(resumed.ema.state_dict().averaged, trained.ema.state_dict().averaged);
  EXPECT_EQ(resumed.scaler.get_scale(), trained.scaler.get_scale());
  EXPECT_EQ(resumed.scaler.get_growth_tracker(), trained.scaler.get_growth_tracker());
  trained.step(kFixtureSteps);
  resumed.step(kFixtureSteps);
  for (std::size_t i = 0; i < trained.model.values.size(); ++i)
    EXPECT_EQ(resumed.model.values[i]->get(), trained.model.values[i]->get()) << "parameter " << i;
  EXPECT_EQ(resumed.ema.state_dict().averaged, trained.ema.state_dict().averaged);
}

// ---- state past the streaming blocks --------------------------------------------------------------

class LargeState : public ::testing::TestWithParam<Executor> {};

/// One bf16 parameter of 1.2M elements: its f32 state tensors are 4.8 MB each (past the 4 MiB
/// I/O block of a device's bounce buffer) and 1.2M elements (past the 1M-element block of the
/// f32 -> bf16 state conversion on load).
TEST_P(LargeState, RoundTripsAndConvertsPastEveryBlock) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  constexpr std::int64_t kN = 1200007;
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  GuardedTensor value(kN, DType::bf16, device), grad(kN, DType::bf16, device);
  value.set(random_values(rng, kN, 1.0, DType::bf16));
  const std::vector<Param> params = {{value.view(), grad.view()}};
  const auto options = AdamWOptions().lr(1e-3);
  AdamW f32_state(params, options);
  for (int step = 0; step < 2; ++step) {
    grad.set(random_values(rng, kN, 1.0, DType::bf16));
    f32_state.step();
  }
  const std::string f32_path = (fs::path(::testing::TempDir()) /
                                ("fusedopt_large_f32_" + std::to_string(seed) + ".safetensors"))
                                   .string();
  const std::string bf16_path = f32_path + ".bf16.safetensors";
  f32_state.save(f32_path);
  const StateDict want = f32_state.state_dict();

  // f32 file -> f32 state: every bit.
  AdamW same(params, options);
  same.load(f32_path);
  EXPECT_EQ(difference(same.state_dict(), want), "");

  // A file without precision (as torch writes) into bf16 state: each element converted to the
  // nearest bf16 (test_util's own rounding), through the 1M-element conversion block.
  StateDict torch_like = want;
  for (GroupState& g : torch_like.param_groups) g.precision.reset();
  write_state_dict(torch_like, f32_path);
  AdamW narrow(params, options);
  narrow.set_precision(with_state_dtype(DType::bf16));
  narrow.load(f32_path);
  EXPECT_EQ(narrow.precision(0).state_dtype, DType::bf16);
  const StateDict narrowed = narrow.state_dict();
  for (const auto& [key, values] : want.state.at(0).tensors) {
    const std::vector<float>& got = narrowed.state.at(0).tensors.at(key);
    ASSERT_EQ(got.size(), values.size()) << key;
    for (std::size_t e = 0; e < got.size(); ++e)
      ASSERT_EQ(got[e], float(round_to(DType::bf16, values[e]))) << key << " element " << e;
  }
  // Its own bf16-state file (2.4 MB per tensor) back into a fresh optimizer: every bit.
  narrow.save(bf16_path);
  AdamW again(params, options);
  again.load(bf16_path);
  EXPECT_EQ(again.precision(0).state_dtype, DType::bf16);
  EXPECT_EQ(difference(again.state_dict(), narrowed), "");
  fs::remove(f32_path);
  fs::remove(bf16_path);
}

INSTANTIATE_TEST_SUITE_P(Executors, LargeState, ::testing::ValuesIn(native_executors()),
                         [](const ::testing::TestParamInfo<Executor>& info) {
                           return std::string(to_string(info.param));
                         });

// ---- another format_version -----------------------------------------------------------------------

/// The file's bytes with `"format_version":"1"` replaced by `"format_version":"7"` (same length,
/// so every offset stays valid).
std::vector<char> with_format_version_7(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "\"format_version\":\"1\"";
  const auto at = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
  EXPECT_NE(at, bytes.end()) << path << " has no format_version 1";
  if (at != bytes.end()) *(at + std::ptrdiff_t(from.size()) - 2) = '7';
  return bytes;
}

TEST(FormatVersion, AnotherVersionIsRefusedByBothLoaders) {
  FixtureModel m({5, 70}, DType::f32);
  AdamW opt(m.params, AdamWOptions().lr(1e-2));
  m.set_grads(0);
  opt.step();
  const std::string path =
      (fs::path(::testing::TempDir()) / "fusedopt_format_version.safetensors").string();
  opt.save(path);
  const std::vector<char> v7 = with_format_version_7(path);
  AdamW other(m.params, AdamWOptions().lr(0.5));
  const StateDict before = other.state_dict();
  try {
    other.load_bytes(v7.data(), v7.size());
    ADD_FAILURE() << "a format_version 7 checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format_version \"7\""), std::string::npos) << e.what();
  }
  EXPECT_EQ(other.state_dict().state.size(), before.state.size());
  EXPECT_EQ(other.lr(0), 0.5);

  AveragedModel ema(m.params, ema_decay(0.5));
  ema.update();
  ema.save(path);
  const std::vector<char> averaged_v7 = with_format_version_7(path);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(averaged_v7.data(), std::streamsize(averaged_v7.size()));
  }
  m.nudge(1);
  ema.update();
  const AveragedState kept = ema.state_dict();
  try {
    ema.load(path);
    ADD_FAILURE() << "a format_version 7 averaged model loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format_version \"7\""), std::string::npos) << e.what();
  }
  const AveragedState after = ema.state_dict();
  EXPECT_EQ(after.n_averaged, kept.n_averaged);
  EXPECT_EQ(after.averaged, kept.averaged);
  fs::remove(path);
}

}  // namespace
}  // namespace fusedopt::testing
