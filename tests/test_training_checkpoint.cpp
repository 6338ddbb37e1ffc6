// NOTE(training-checkpoint): one file for the optimizer, its scheduler, averaged models and the
// GradScaler. A run saved halfway and resumed from the file into fresh objects continues bit
// for bit as the run that never stopped (AMP with skipped steps and a changing scale, clipping,
// a one-cycle schedule that also cycles beta1, EMA and SWA); mismatched or damaged files are
// refused with every part left as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"
#include "fusedopt/training_checkpoint.hpp"
#include "host/io/safetensors.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {
namespace fs = std::filesystem;

constexpr int kSteps = 10;

std::string temp_path(const std::string& name) {
  return (fs::path(::testing::TempDir()) /
          ("fusedopt_training_" + name + "_" + std::to_string(::getpid()) + ".safetensors"))
      .string();
}

/// Two groups of f32 and bf16 parameters, every step's gradients with 6 significant bits, so
/// that times a power-of-two loss scale they are exact (and unscale exactly).
struct Net : SteppedModel {
  Net(Device device, std::uint64_t seed)
      : SteppedModel(device, seed,
                     {{{1000, DType::f32}, {7, DType::f32}}, {{65, DType::bf16}, {3, DType::f32}}},
                     kSteps, /*short_gradients=*/true) {}
  /// Step `step`'s gradients times `scale`; an inf in one element where `overflow`.
  void load_grads(int step, double scale, bool overflow) {
    SteppedModel::load_grads(step, scale);
    if (!overflow) return;
    std::vector<double> g = grad(2).get();
    g[1] = INFINITY;
    grad(2).set(g);
  }
};

/// Every part of a training run over a Net. `variant` != 0 builds the objects differently (lr,
/// initial scale, clipping off), as a fresh process would before it loads.
struct Training {
  std::unique_ptr<AdamW> opt;
  std::unique_ptr<OneCycleLR> sched;
  std::unique_ptr<AveragedModel> ema, swa;
  std::unique_ptr<GradScaler> scaler;
  std::unique_ptr<GradList> grads;

  Training(const Net& net, Device device, int variant = 0) {
    opt = std::make_unique<AdamW>(
        std::vector<AdamW::Group>{{net.groups()[0], std::nullopt},
                                  {net.groups()[1], AdamWOptions().lr(variant ? 0.5 : 5e-3)}},
        AdamWOptions().lr(variant ? 0.25 : 1e-2).weight_decay(0.05));
    if (variant == 0) opt->set_grad_clipping(2.0);
    sched = std::make_unique<OneCycleLR>(*opt, PerGroup{0.02, 0.01}, kSteps);
    ema = std::make_unique<AveragedModel>(net.groups()[0], ema_decay(0.75));
    swa = std::make_unique<AveragedModel>(net.groups()[1], swa_average());
    scaler = std::make_unique<GradScaler>(
        device, GradScalerOptions().init_scale(variant ? 8.0 : 1024.0).growth_interval(2));
    grads = std::make_unique<GradList>(*opt);
  }
  TrainingState state() {
    return {opt.get(), {sched.get()}, {ema.get(), swa.get()}, scaler.get()};
  }
  /// One iteration: scaled gradients (an overflow at steps 3 and 7: the step is skipped and the
  /// scale backs off), the scaler's step and update, the schedule, the averages.
  void step(Net& net, int s) {
    net.load_grads(s, scaler->get_scale(), s == 3 || s == 7);
    scaler->step(*opt, *grads);
    scaler->update();
    sched->step();
    ema->update();
    if (s % 2 == 1) swa->update();
  }
};

void expect_same_scaler(const GradScaler& a, const GradScaler& b) {
  const auto x = a.state_dict(), y = b.state_dict();
  ASSERT_EQ(x.has_value(), y.has_value());
  if (!x) return;
  EXPECT_EQ(x->scale, y->scale);
  EXPECT_EQ(x->growth_factor, y->growth_factor);
  EXPECT_EQ(x->backoff_factor, y->backoff_factor);
  EXPECT_EQ(x->growth_interval, y->growth_interval);
  EXPECT_EQ(x->growth_tracker, y->growth_tracker);
}

void expect_same_average(const AveragedModel& a, const AveragedModel& b) {
  const AveragedState x = a.state_dict(), y = b.state_dict();
  EXPECT_EQ(x.n_averaged, y.n_averaged);
  EXPECT_EQ(x.averaged, y.averaged);
}

class TrainingCheckpoint : public ::testing::TestWithParam<Executor> {};

TEST_P(TrainingCheckpoint, ResumedRunIsBitIdentical) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));

  Net straight_net(device, seed);
  Training straight(straight_net, device);
  for (int s = 0; s < kSteps; ++s) straight.step(straight_net, s);

  Net net(device, seed);
  const std::string path = temp_path("resume");
  {
    Training first(net, device);
    for (int s = 0; s < kSteps / 2; ++s) first.step(net, s);
    save_training_checkpoint(first.state(), path);
  }
  Training second(net, device, /*variant=*/1);
  load_training_checkpoint(second.state(), path);
  std::remove(path.c_str());
  EXPECT_EQ(second.opt->max_grad_norm(), 2.0);  // NOTE(step-settings)
  for (int s = kSteps / 2; s < kSteps; ++s) second.step(net, s);

  EXPECT_EQ(difference(net.values(), straight_net.values()), "");
  EXPECT_EQ(difference(second.opt->state_dict(), straight.opt->state_dict()), "");
  EXPECT_EQ(second.sched->state_dict(), straight.sched->state_dict());
  for (std::size_t g = 0; g < 2; ++g) {
    EXPECT_EQ(second.opt->lr(g), straight.opt->lr(g));
    EXPECT_EQ(second.opt->get(g, "beta1"), straight.opt->get(g, "beta1"));
  }
  expect_same_average(*second.ema, *straight.ema);
  expect_same_average(*second.swa, *straight.swa);
  expect_same_scaler(*second.scaler, *straight.scaler);
  EXPECT_EQ(second.scaler->skipped_steps(), 1) << "the loaded run skipped step 7 only";
}

INSTANTIATE_TEST_SUITE_P(Executors, TrainingCheckpoint,
                         ::testing::Values(Executor::cpu, Executor::emulated, Executor::cuda),
                         [](const ::testing::TestParamInfo<Executor>& info) {
                           return std::string(to_string(info.param));
                         });

/// What a refused load must leave as it was.
struct Snapshot {
  StateDict opt;
  SchedulerState sched;
  AveragedState ema, swa;
  std::optional<GradScalerState> scaler;
  explicit Snapshot(const Training& r)
      : opt(r.opt->state_dict()),
        sched(r.sched->state_dict()),
        ema(r.ema->state_dict()),
        swa(r.swa->state_dict()),
        scaler(r.scaler->state_dict()) {}
  void expect_unchanged(const Training& r, const std::string& what) const {
    EXPECT_EQ(difference(r.opt->state_dict(), opt), "") << what;
    EXPECT_EQ(r.sched->state_dict(), sched) << what;
    EXPECT_EQ(r.ema->state_dict().averaged, ema.averaged) << what;
    EXPECT_EQ(r.swa->state_dict().n_averaged, swa.n_averaged) << what;
    EXPECT_EQ(r.scaler->state_dict()->scale, scaler->scale) << what;
  }
};

class TrainingCheckpointErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    net_ = std::make_unique<Net>(Device::cpu(), 7);
    Training saved(*net_, Device::cpu());
    for (int s = 0; s < 4; ++s) saved.step(*net_, s);
    path_ = temp_path("errors");
    save_training_checkpoint(saved.state(), path_);
    target_ = std::make_unique<Training>(*net_, Device::cpu(), 1);
    target_->step(*net_, 0);  // a state of its own, different from the file's
  }
  void TearDown() override { std::remove(path_.c_str()); }
  /// load_training_checkpoint(state) throws an Error containing `message`; nothing changes.
  void expect_refused(const TrainingState& state, const std::string& message) {
    const Snapshot before(*target_);
    try {
      load_training_checkpoint(state, path_);
      ADD_FAILURE() << "loaded; expected: " << message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    before.expect_unchanged(*target_, message);
  }
  std::unique_ptr<Net> net_;
  std::unique_ptr<Training> target_;
  std::string path_;
};

TEST_F(TrainingCheckpointErrors, PartsThatDoNotMatchTheCallAreRefused) {
  TrainingState state = target_->state();
  state.schedulers.clear();
  expect_refused(state, "the file has 1 scheduler(s), the call 0");
  state = target_->state();
  state.averaged_models.pop_back();
  expect_refused(state, "the file has 2 averaged model(s), the call 1");
  state = target_->state();
  state.scaler = nullptr;
  expect_refused(state, "the file has a GradScaler state: pass the scaler");
  state = target_->state();
  std::swap(state.averaged_models[0], state.averaged_models[1]);  // other sizes
  expect_refused(state, "averaged_model.0");
  StepLR step_lr(*target_->opt, 3);
  state = target_->state();
  const SchedulerState step_before = step_lr.state_dict();
  state.schedulers[0] = &step_lr;
  expect_refused(state, "the state is of a \"OneCycleLR\", not a StepLR");
  EXPECT_EQ(step_lr.state_dict(), step_before);
  state.optimizer = nullptr;
  EXPECT_THROW(load_training_checkpoint(state, path_), Error);
  EXPECT_THROW(save_training_checkpoint(state, path_), Error);
}

/// The scheduler and the scaler load before the optimizer: when the optimizer then refuses its
/// part, they go back.
TEST_F(TrainingCheckpointErrors, AnOptimizerThatRefusesPutsTheSchedulerAndScalerBack) {
  Net other(Device::cpu(), 8);
  SGD sgd(std::vector<SGD::Group>{{other.groups()[0], std::nullopt}, {other.groups()[1], std::nullopt}},
          SGDOptions().lr(0.1));
  OneCycleLR sched(sgd, PerGroup{0.02, 0.01}, kSteps, {}, {}, 0.3, AnnealStrategy::cos,
                   /*cycle_momentum=*/false);
  AveragedModel ema(other.groups()[0], ema_decay(0.5)), swa(other.groups()[1]);
  GradScaler scaler(Device::cpu(), GradScalerOptions().init_scale(4.0));
  const SchedulerState sched_before = sched.state_dict();
  try {
    load_training_checkpoint({&sgd, {&sched}, {&ema, &swa}, &scaler}, path_);
    ADD_FAILURE() << "an AdamW state loaded into SGD";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not SGD"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sched.state_dict(), sched_before);
  EXPECT_EQ(scaler.get_scale(), 4.0);
  EXPECT_EQ(ema.n_averaged(), 0);
}

TEST_F(TrainingCheckpointErrors, DamagedFilesNeverCrash) {
  const std::vector<unsigned char> good = detail::read_file(path_);
  // Each part is its component's own file: cut out, it loads on its own.
  const detail::SafeTensors file = detail::decode_safetensors(good.data(), good.size());
  const std::vector<unsigned char>& optimizer = file.tensors.at("optimizer").bytes;
  target_->opt->load_bytes(optimizer.data(), optimizer.size());
  const std::string part = path_ + ".scheduler";
  detail::write_file_atomically(part, file.tensors.at("scheduler.0").bytes);
  target_->sched->load(part);
  std::remove(part.c_str());
  target_ = std::make_unique<Training>(*net_, Device::cpu(), 1);

  const auto write = [&](const std::vector<unsigned char>& bytes) {
    detail::write_file_atomically(path_, bytes);
  };
  for (std::size_t cut : {std::size_t(0), std::size_t(7), std::size_t(100), good.size() / 2,
                          good.size() - 1}) {
    write(std::vector<unsigned char>(good.begin(), good.begin() + std::ptrdiff_t(cut)));
    expect_refused(target_->state(), "");
  }
  detail::SafeTensors wrong = file;
  wrong.metadata["format"] = "fusedopt.optimizer";
  write(detail::encode_safetensors(wrong));
  expect_refused(target_->state(), "format \"fusedopt.optimizer\" is not \"fusedopt.training\"");
  wrong = file;
  wrong.tensors["extra"] = wrong.tensors.at("scheduler.0");
  write(detail::encode_safetensors(wrong));
  expect_refused(target_->state(), "tensor \"extra\" is not a part of a training checkpoint");
  wrong = file;
  wrong.metadata["grad_scaler"] = R"({"scale":-1,"growth_factor":2,"backoff_factor":0.5,"growth_interval":2,"_growth_tracker":0})";
  write(detail::encode_safetensors(wrong));
  expect_refused(target_->state(), "grad_scaler");
  wrong.metadata["grad_scaler"] = R"({"scale":1})";
  write(detail::encode_safetensors(wrong));
  expect_refused(target_->state(), "grad_scaler");
  // Random damage: an Error or a load, never a crash (bytes inside the parts' tensors load).
  std::mt19937_64 rng(fresh_seed());
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<unsigned char> bytes = good;
    for (int k = 0; k < 4; ++k) bytes[rng() % bytes.size()] = static_cast<unsigned char>(rng());
    write(bytes);
    try {
      load_training_checkpoint(target_->state(), path_);
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace fusedopt::testing
