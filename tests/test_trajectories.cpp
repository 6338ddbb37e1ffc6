// Every optimizer x option combination x dtype x executor x implementation (Loop, Foreach,
// Fused: three optimizers side by side on the same gradients) against the double reference over
// 20-step trajectories: three param groups (group 1 overrides lr, group 2 flips `maximize`),
// the chunking's edge lengths (0, 1, not a multiple of the vector width, chunk + 3,
// 2 chunks + 1), misaligned tensors (scalar path), fresh random data each step, guard zones
// that must stay poisoned, and the optimizer state (torch's names) as well as the parameters.
//
// Tolerances are normwise: every element satisfies |x - ref| <= rtol * scale, with scale the
// largest |ref| of that tensor over the whole trajectory. (Elementwise relative error is
// meaningless for values that cross zero: the float error is relative to the O(1) terms that
// cancelled.) The reference rounds parameters to the storage dtype after every step
// (NOTE(storage-rounding)).
//   f32:  rtol 1e-6. Float arithmetic and fp32 state vs double over 20 steps.
//   f16:  rtol 2e-3 (4 ulp at the tensor's scale). A rounding decided differently (the exact
//         update near a rounding midpoint) moves an element by an ulp.
//   bf16: rtol 1.6e-2 (2 ulp at the tensor's scale). As f16, for bf16's 8-bit mantissa.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <sstream>

#include "reference/more.hpp"
#include "reference/reference.hpp"
#include "kernels/engine/cpu_isa.h"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

using reference::Vec;
constexpr int kSteps = 20;

double tolerance(DType dtype) {
  switch (dtype) {
    case DType::f32: return 1e-6;
    case DType::f16: return 2e-3;
    case DType::bf16: return 1.6e-2;
  }
  return 0;
}

// NOTE(test-weight-decay): adaptive optimizers divide by a running magnitude of the gradient, so
// the update is ill-conditioned where the L2-decayed gradient g + wd * p nearly cancels: a
// one-ulp difference in p (two correct implementations may round an update differently) or any
// rounding in wd * p is amplified by |wd * p| / |g + wd * p|. The test's weight decay is
// therefore a power of two (wd * p exact; by Sterbenz' lemma a cancelling sum is exact too) and
// small next to the gradients (|wd * p| ~ 1e-3 vs |g| ~ 0.5), which makes such cancellations
// rare and mild. Its effect on the update (~0.2%) is still ~100x the f32 tolerance over the
// trajectory, so a missing or misapplied weight decay fails the test.
constexpr double kWd = 1.0 / 1024;

/// A reference optimizer for one parameter: steps it and exposes its state by torch name.
struct ReferenceParam {
  std::function<void(Vec& param, const Vec& grad)> step;
  std::function<std::map<std::string, const Vec*>()> state;
  /// Elements whose next update is a sign of a value within rounding of 0 (Lion); the library
  /// may legitimately take the other sign there (NOTE(sign-ties)).
  std::function<void(const Vec& grad, std::vector<char>& ambiguous)> mark_ambiguous;
};

struct Case {
  std::string name;
  DType dtype;
  Executor executor;
  Device device;
  std::function<std::unique_ptr<Optimizer>(const std::vector<std::vector<Param>>&)> make;
  std::function<ReferenceParam(std::size_t group)> reference;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Group layout: lengths and misalignment (in elements) of each parameter.
struct TensorSpec {
  std::int64_t numel;
  int misalign;
};
const std::vector<std::vector<TensorSpec>> kGroups = {
    {{0, 0}, {1, 0}, {3, 0}, {4, 0}, {5, 0}, {1000, 0}},
    {{65536, 0}, {65539, 0}, {2 * 65536 + 1, 0}},
    {{7, 1}, {4099, 3}, {33, 0}},
};

/// Builds a Case for optimizer Options with reference Config/State and its step function.
/// Group 1 gets `group1_lr`; group 2 flips `maximize`, in both the library and the reference.
template <class Options, class Config, class State>
class CaseBuilder {
 public:
  using StepFn = void (*)(const Config&, Vec&, const Vec&, State&);
  using StateFn = std::map<std::string, const Vec*> (*)(const State&);

  CaseBuilder(std::vector<Case>& out, const std::vector<Executor>& executors, StepFn step,
              StateFn state)
      : out_(out), executors_(executors), step_(step), state_(state) {}

  void add(const std::string& name, Options defaults, Config config, double group1_lr,
           std::function<void(const Config&, const State&, const Vec&, std::vector<char>&)> ambiguous = {}) {
    for (Executor executor : executors_)
      for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
        Case c;
        std::ostringstream id;
        id << name << "_" << to_string(dtype) << "_" << to_string(executor);
        c.name = id.str();
        c.dtype = dtype;
        c.executor = executor;
        c.device = device_of(executor);
        c.make = [defaults, group1_lr](const std::vector<std::vector<Param>>& groups) {
          using Opt = FusedOptimizer<Options>;
          std::vector<typename Opt::Group> spec = {
              {groups[0], std::nullopt},
              {groups[1], Options().lr(group1_lr)},
              {groups[2], Options().maximize(!defaults.maximize())}};
          return std::unique_ptr<Optimizer>(std::make_unique<Opt>(std::move(spec), defaults));
        };
        StepFn step = step_;
        StateFn state = state_;
        c.reference = [=](std::size_t group) {
          Config cfg = config;
          if (group == 1) cfg.lr = group1_lr;
          if (group == 2) cfg.maximize = !cfg.maximize;
          auto st = std::make_shared<State>();
          ReferenceParam ref;
          ref.step = [cfg, st, step](Vec& p, const Vec& g) { step(cfg, p, g, *st); };
          ref.state = [st, state] { return state(*st); };
          if (ambiguous)
            ref.mark_ambiguous = [cfg, st, ambiguous](const Vec& g, std::vector<char>& mask) {
              ambiguous(cfg, *st, g, mask);
            };
          return ref;
        };
        out_.push_back(std::move(c));
      }
  }

 private:
  std::vector<Case>& out_;
  std::vector<Executor> executors_;
  StepFn step_;
  StateFn state_;
};

std::string flags(std::initializer_list<std::pair<const char*, bool>> parts) {
  std::string s;
  for (auto [name, on] : parts) s += std::string("_") + name + (on ? "1" : "0");
  return s;
}

std::vector<Case> all_cases(const std::vector<Executor>& executors) {
  namespace r = reference;
  std::vector<Case> cases;
  const bool tf[] = {false, true};

  CaseBuilder<SGDOptions, r::SGDConfig, r::SGDState> sgd(
      cases, executors, r::sgd_step, [](const r::SGDState& s) {
        return std::map<std::string, const Vec*>{{"momentum_buffer", &s.momentum_buffer}};
      });
  for (double momentum : {0.0, 0.9})
    for (double dampening : {0.0, 0.25})
      for (bool nesterov : tf)
        for (double wd : {0.0, 0.05})
          for (bool maximize : tf) {
            if (nesterov && (momentum == 0 || dampening != 0)) continue;  // invalid in torch
            sgd.add("SGD" + flags({{"mom", momentum != 0}, {"damp", dampening != 0},
                                   {"nest", nesterov}, {"wd", wd != 0}, {"max", maximize}}),
                    SGDOptions().lr(0.01).momentum(momentum).dampening(dampening)
                        .weight_decay(wd).nesterov(nesterov).maximize(maximize),
                    {0.01, momentum, dampening, wd, nesterov, maximize}, 0.05);
          }

  auto adam_state = [](const r::AdamState& s) {
    return std::map<std::string, const Vec*>{{"exp_avg", &s.exp_avg},
                                             {"exp_avg_sq", &s.exp_avg_sq},
                                             {"max_exp_avg_sq", &s.max_exp_avg_sq}};
  };
  CaseBuilder<AdamOptions, r::AdamConfig, r::AdamState> adam(cases, executors, r::adam_step, adam_state);
  CaseBuilder<AdamWOptions, r::AdamConfig, r::AdamState> adamw(cases, executors, r::adam_step, adam_state);
  for (bool amsgrad : tf)
    for (bool wd : tf)
      for (bool maximize : tf) {
        const std::string f = flags({{"ams", amsgrad}, {"wd", wd}, {"max", maximize}});
        adam.add("Adam" + f, AdamOptions().weight_decay(wd ? kWd : 0).amsgrad(amsgrad).maximize(maximize),
                 {1e-3, 0.9, 0.999, 1e-8, wd ? kWd : 0, amsgrad, maximize, false}, 3e-3);
        adamw.add("AdamW" + f, AdamWOptions().weight_decay(wd ? 0.1 : 0).amsgrad(amsgrad).maximize(maximize),
                  {1e-3, 0.9, 0.999, 1e-8, wd ? 0.1 : 0, amsgrad, maximize, true}, 3e-3);
      }

  CaseBuilder<RMSpropOptions, r::RMSpropConfig, r::RMSpropState> rmsprop(
      cases, executors, r::rmsprop_step, [](const r::RMSpropState& s) {
        return std::map<std::string, const Vec*>{{"square_avg", &s.square_avg},
                                                 {"grad_avg", &s.grad_avg},
                                                 {"momentum_buffer", &s.momentum_buffer}};
      });
  for (bool centered : tf)
    for (double momentum : {0.0, 0.9})
      for (bool wd : tf)
        for (bool maximize : tf)
          rmsprop.add("RMSprop" + flags({{"centered", centered}, {"mom", momentum != 0},
                                         {"wd", wd}, {"max", maximize}}),
                      RMSpropOptions().lr(1e-3).centered(centered).momentum(momentum)
                          .weight_decay(wd ? kWd : 0).maximize(maximize),
                      {1e-3, 0.99, 1e-8, wd ? kWd : 0, momentum, centered, maximize}, 3e-3);

  CaseBuilder<AdagradOptions, r::AdagradConfig, r::AdagradState> adagrad(
      cases, executors, r::adagrad_step, [](const r::AdagradState& s) {
        return std::map<std::string, const Vec*>{{"sum", &s.sum}};
      });
  for (double lr_decay : {0.0, 0.01})
    for (double init : {0.0, 0.1})
      for (bool wd : tf)
        for (bool maximize : tf)
          adagrad.add("Adagrad" + flags({{"lrdecay", lr_decay != 0}, {"init", init != 0},
                                         {"wd", wd}, {"max", maximize}}),
                      AdagradOptions().lr_decay(lr_decay).initial_accumulator_value(init)
                          .weight_decay(wd ? kWd : 0).maximize(maximize),
                      {1e-2, lr_decay, wd ? kWd : 0, init, 1e-10, maximize}, 3e-2);

  CaseBuilder<AdamaxOptions, r::AdamaxConfig, r::AdamaxState> adamax(
      cases, executors, r::adamax_step, [](const r::AdamaxState& s) {
        return std::map<std::string, const Vec*>{{"exp_avg", &s.exp_avg}, {"exp_inf", &s.exp_inf}};
      });
  for (bool wd : tf)
    for (bool maximize : tf)
      adamax.add("Adamax" + flags({{"wd", wd}, {"max", maximize}}),
                 AdamaxOptions().weight_decay(wd ? kWd : 0).maximize(maximize),
                 {2e-3, 0.9, 0.999, 1e-8, wd ? kWd : 0, maximize}, 5e-3);

  CaseBuilder<NAdamOptions, r::NAdamConfig, r::NAdamState> nadam(
      cases, executors, r::nadam_step, [](const r::NAdamState& s) {
        return std::map<std::string, const Vec*>{{"exp_avg", &s.exp_avg}, {"exp_avg_sq", &s.exp_avg_sq}};
      });
  CaseBuilder<RAdamOptions, r::RAdamConfig, r::RAdamState> radam(
      cases, executors, r::radam_step, [](const r::RAdamState& s) {
        return std::map<std::string, const Vec*>{{"exp_avg", &s.exp_avg}, {"exp_avg_sq", &s.exp_avg_sq}};
      });
  for (bool wd : tf)
    for (bool decoupled : tf)
      for (bool maximize : tf) {
        const std::string f = flags({{"wd", wd}, {"decoupled", decoupled}, {"max", maximize}});
        const double w = wd ? kWd : 0;
        nadam.add("NAdam" + f,
                  NAdamOptions().weight_decay(w).decoupled_weight_decay(decoupled).maximize(maximize),
                  {2e-3, 0.9, 0.999, 1e-8, w, 4e-3, decoupled, maximize}, 5e-3);
        // beta2 = 0.9 so rho_t passes 5 at step 6: both RAdam branches run within 20 steps.
        radam.add("RAdam" + f,
                  RAdamOptions().betas({0.9, 0.9}).weight_decay(w).decoupled_weight_decay(decoupled)
                      .maximize(maximize),
                  {1e-3, 0.9, 0.9, 1e-8, w, decoupled, maximize}, 3e-3);
      }

  CaseBuilder<AdadeltaOptions, r::AdadeltaConfig, r::AdadeltaState> adadelta(
      cases, executors, r::adadelta_step, [](const r::AdadeltaState& s) {
        return std::map<std::string, const Vec*>{{"square_avg", &s.square_avg}, {"acc_delta", &s.acc_delta}};
      });
  for (bool wd : tf)
    for (bool maximize : tf)
      adadelta.add("Adadelta" + flags({{"wd", wd}, {"max", maximize}}),
                   AdadeltaOptions().weight_decay(wd ? kWd : 0).maximize(maximize),
                   {1.0, 0.9, 1e-6, wd ? kWd : 0, maximize}, 0.5);

  CaseBuilder<RpropOptions, r::RpropConfig, r::RpropState> rprop(
      cases, executors, r::rprop_step, [](const r::RpropState& s) {
        return std::map<std::string, const Vec*>{{"prev", &s.prev}, {"step_size", &s.step_size}};
      });
  for (bool custom : tf)
    for (bool maximize : tf) {
      // custom: etas (0.25, 1.5) and step sizes clamped to [1e-3, 2e-2] within 20 steps.
      const Pair etas = custom ? Pair{0.25, 1.5} : kDefaultEtas;
      const Pair sizes = custom ? Pair{1e-3, 2e-2} : kDefaultStepSizes;
      rprop.add("Rprop" + flags({{"custom", custom}, {"max", maximize}}),
                RpropOptions().etas(etas).step_sizes(sizes).maximize(maximize),
                {1e-2, etas.first, etas.second, sizes.first, sizes.second, maximize}, 5e-3);
    }

  CaseBuilder<ASGDOptions, r::ASGDConfig, r::ASGDState> asgd(
      cases, executors, r::asgd_step, [](const r::ASGDState& s) {
        return std::map<std::string, const Vec*>{{"ax", &s.ax}};
      });
  for (double t0 : {1e6, 5.0})  // t0 = 5: averaging (mu < 1) starts within the trajectory
    for (bool wd : tf)
      for (bool maximize : tf)
        asgd.add("ASGD" + flags({{"t0", t0 < 100}, {"wd", wd}, {"max", maximize}}),
                 ASGDOptions().lambd(0.01).t0(t0).weight_decay(wd ? 0.05 : 0).maximize(maximize),
                 {1e-2, 0.01, 0.75, t0, wd ? 0.05 : 0, maximize}, 3e-2);

  // NOTE(sign-ties): Lion's update is lr * sign(beta1 * m + (1 - beta1) * g). Where that value
  // is within float rounding of zero, float and double may take different signs; such elements
  // (a few per million) are excluded from the comparison for the rest of the trajectory.
  auto lion_ambiguous = [](const r::LionConfig& c, const r::LionState& s, const Vec& grad,
                           std::vector<char>& mask) {
    for (std::size_t i = 0; i < grad.size(); ++i) {
      const double g = c.maximize ? -grad[i] : grad[i];
      const double m = s.exp_avg.empty() ? 0.0 : s.exp_avg[i];
      const double direction = c.beta1 * m + (1 - c.beta1) * g;
      if (std::abs(direction) <= 1e-6 * (std::abs(c.beta1 * m) + std::abs((1 - c.beta1) * g)))
        mask[i] = 1;
    }
  };
  CaseBuilder<LionOptions, r::LionConfig, r::LionState> lion(
      cases, executors, r::lion_step, [](const r::LionState& s) {
        return std::map<std::string, const Vec*>{{"exp_avg", &s.exp_avg}};
      });
  for (bool wd : tf)
    for (bool maximize : tf)
      lion.add("Lion" + flags({{"wd", wd}, {"max", maximize}}),
               LionOptions().weight_decay(wd ? 0.1 : 0).maximize(maximize),
               {1e-4, 0.9, 0.99, wd ? 0.1 : 0, maximize}, 3e-4, lion_ambiguous);
  return cases;
}

class TrajectoryTest : public ::testing::TestWithParam<Case> {};

/// Compares `got` with `want` normwise at `scale`; reports up to 5 elements.
void expect_close(const std::vector<double>& got, const Vec& want, const std::vector<char>& skip,
                  double rtol, double scale, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < got.size() && reported < 5; ++i) {
    if (skip[i]) continue;
    if (!(std::abs(got[i] - want[i]) <= rtol * scale)) {
      ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", reference "
                    << want[i] << ", error/scale = " << std::abs(got[i] - want[i]) / scale;
      ++reported;
    }
  }
}

double max_abs(const Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

/// The scale a state tensor's rounding error is relative to. Linear states (sums of gradients or
/// of parameters) can cancel to far below the terms that form them, in a tensor of few elements
/// even at every element; their float error is relative to those terms.
template <class Tensor>
double state_scale(const Tensor& t, const std::string& name) {
  double scale = std::max(t.state_scale.at(name), 1e-30);
  if (name == "momentum_buffer" || name == "exp_avg" || name == "grad_avg")
    scale = std::max(scale, t.grad_scale);
  if (name == "ax") scale = std::max(scale, t.scale);
  return scale;
}

TEST_P(TrajectoryTest, MatchesReferenceOver20Steps) {
  const Case& c = GetParam();
  FUSEDOPT_USE_EXECUTOR(c.executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  constexpr Impl kImpls[] = {Impl::Loop, Impl::Foreach, Impl::Fused};
  constexpr std::size_t kNumImpls = std::size(kImpls);
  struct Tensor {
    std::unique_ptr<GuardedTensor> value[kNumImpls];  // one copy per implementation
    std::unique_ptr<GuardedTensor> grad;              // read by all three
    std::size_t group, index;
    ReferenceParam ref;
    Vec ref_value;
    double scale = 0;                                 // max |value| along the trajectory
    double grad_scale = 0;                            // max |grad| along the trajectory
    std::map<std::string, double> state_scale;        // same, per state tensor
    std::vector<char> ambiguous;
  };
  std::vector<Tensor> tensors;
  std::vector<std::vector<std::vector<Param>>> groups(
      kNumImpls, std::vector<std::vector<Param>>(kGroups.size()));
  for (std::size_t g = 0; g < kGroups.size(); ++g)
    for (std::size_t i = 0; i < kGroups[g].size(); ++i) {
      const TensorSpec& spec = kGroups[g][i];
      Tensor t;
      t.grad = std::make_unique<GuardedTensor>(spec.numel, c.dtype, c.device, spec.misalign);
      t.group = g;
      t.index = i;
      t.ref = c.reference(g);
      t.ref_value = random_values(rng, spec.numel, 1.0, c.dtype);
      t.scale = max_abs(t.ref_value);
      t.ambiguous.assign(std::size_t(spec.numel), 0);
      for (std::size_t k = 0; k < kNumImpls; ++k) {
        t.value[k] = std::make_unique<GuardedTensor>(spec.numel, c.dtype, c.device, spec.misalign);
        t.value[k]->set(t.ref_value);
        groups[k][g].push_back({t.value[k]->view(), t.grad->view()});
      }
      tensors.push_back(std::move(t));
    }
  std::unique_ptr<Optimizer> opts[kNumImpls];
  for (std::size_t k = 0; k < kNumImpls; ++k) {
    opts[k] = c.make(groups[k]);
    opts[k]->set_impl(kImpls[k]);
    ASSERT_EQ(opts[k]->impl(), kImpls[k]);
  }

  const double rtol = tolerance(c.dtype);
  for (int step = 1; step <= kSteps; ++step) {
    for (Tensor& t : tensors) {
      const Vec grad = random_values(rng, t.grad->numel(), 0.5, c.dtype);
      t.grad->set(grad);
      if (t.ref.mark_ambiguous) t.ref.mark_ambiguous(grad, t.ambiguous);
      t.ref.step(t.ref_value, grad);
      t.grad_scale = std::max(t.grad_scale, max_abs(grad));
      for (double& x : t.ref_value) x = round_to(c.dtype, x);  // NOTE(storage-rounding)
      t.scale = std::max(t.scale, max_abs(t.ref_value));
      for (const auto& [name, vec] : t.ref.state())
        t.state_scale[name] = std::max(t.state_scale[name], max_abs(*vec));
    }
    for (auto& opt : opts) opt->step();
    if (step != 1 && step != 2 && step != kSteps) continue;
    for (std::size_t k = 0; k < kNumImpls; ++k) {
      const Optimizer& opt = *opts[k];
      for (const Tensor& t : tensors) {
        const std::string where = std::string("Impl::") + to_string(kImpls[k]) + " step " +
                                  std::to_string(step) + " param_groups[" +
                                  std::to_string(t.group) + "].params[" +
                                  std::to_string(t.index) + "] (numel " +
                                  std::to_string(t.grad->numel()) + ")";
        expect_close(t.value[k]->get(), t.ref_value, t.ambiguous, rtol, t.scale, where + " value");
        for (const std::string& name : opt.state_names(t.group)) {
          const auto ref_state = t.ref.state();
          const auto found = ref_state.find(name);
          ASSERT_NE(found, ref_state.end()) << "the reference has no state " << name;
          if (found->second->empty()) continue;  // torch has not created it (e.g. no momentum)
          const std::vector<float> got = opt.state(t.group, t.index, name);
          expect_close(std::vector<double>(got.begin(), got.end()), *found->second, t.ambiguous,
                       rtol, state_scale(t, name), where + " state " + name);
        }
        ASSERT_FALSE(::testing::Test::HasFailure()) << "stopping at the first step that differs";
        EXPECT_TRUE(t.value[k]->guards_intact()) << where << ": write outside the parameter";
        EXPECT_TRUE(t.grad->guards_intact()) << where << ": write outside the gradient";
      }
    }
  }
  for (const auto& opt : opts)
    for (const Tensor& t : tensors) EXPECT_EQ(opt->step_count(t.group, t.index), double(kSteps));
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }
INSTANTIATE_TEST_SUITE_P(AllOptions, TrajectoryTest,
                         ::testing::ValuesIn(all_cases(native_executors())), case_name);
// The same sweep on the emulated device: the CUDA kernels' lanes, strides, vector packs, scalar
// tails (the misaligned and odd-length tensors) and step-count protocol, run on the CPU.
INSTANTIATE_TEST_SUITE_P(Emulated, TrajectoryTest,
                         ::testing::ValuesIn(all_cases({Executor::emulated})), case_name);

// NOTE(cpu-isa): every case and dtype of Impl::Fused (the loops compiled per level; Loop and
// Foreach run the baseline pass loops at every level) on the CPU executor at each
// instruction-set level this CPU has, bit for bit against the baseline loop: parameters and
// every state tensor after each of 3 steps, plain and under each mode that selects other loops
// (loss-scale unscaling with clipping; master weights; bf16 state; stochastic rounding, which
// runs the baseline loop at every level: update_range_cpu in apply.h).
constexpr int kIsaSteps = 3;
const std::vector<std::vector<TensorSpec>> kIsaGroups = {
    {{1, 0}, {3, 0}, {1000, 0}},  // vector tails: 16-, 8- and 4-wide loops and their epilogues
    {{77, 0}},
    {{7, 1}, {4099, 3}},  // misaligned
};

struct IsaMode {
  std::string name;
  Precision precision;
  bool amp = false;  // a loss scale to divide by, and clipping to a max norm
};

std::vector<IsaMode> isa_modes(DType dtype) {
  std::vector<IsaMode> modes = {{"plain", {}, false}, {"amp", {}, true}};
  if (dtype == DType::f32) return modes;
  Precision master;
  master.master_weights = true;
  modes.push_back({"master", master, false});
  if (dtype != DType::bf16) return modes;
  Precision bf16_state;
  bf16_state.state_dtype = DType::bf16;
  modes.push_back({"bf16_state", bf16_state, false});
  Precision stochastic = bf16_state;
  stochastic.stochastic_rounding = true;
  stochastic.seed = 7;
  modes.push_back({"stochastic_bf16_state", stochastic, false});
  Precision both = bf16_state;
  both.master_weights = true;
  modes.push_back({"master_bf16_state", both, false});
  return modes;
}

/// The bits of every parameter and state tensor after each step of `c` under `mode` with `impl`,
/// the CPU loops compiled for `isa`.
std::vector<std::vector<double>> isa_trajectory(const Case& c, const IsaMode& mode, Impl impl,
                                                kernels::CpuIsa isa, std::uint64_t seed) {
  struct RestoreIsa {
    kernels::CpuIsa before;
    ~RestoreIsa() { kernels::set_cpu_isa(before); }
  } restore{kernels::set_cpu_isa(isa)};
  std::mt19937_64 rng(seed);
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<std::vector<Param>> groups(kIsaGroups.size());
  for (std::size_t g = 0; g < kIsaGroups.size(); ++g)
    for (const TensorSpec& spec : kIsaGroups[g]) {
      values.push_back(std::make_unique<GuardedTensor>(spec.numel, c.dtype, c.device, spec.misalign));
      grads.push_back(std::make_unique<GuardedTensor>(spec.numel, c.dtype, c.device, spec.misalign));
      values.back()->set(random_values(rng, spec.numel, 1.0, c.dtype));
      groups[g].push_back({values.back()->view(), grads.back()->view()});
    }
  std::unique_ptr<Optimizer> opt = c.make(groups);
  opt->set_impl(impl);
  opt->set_precision(mode.precision);
  const float grad_scale = 1024.0f, found_inf = 0.0f;
  if (mode.amp) {
    opt->set_grad_scaling(&grad_scale, &found_inf);
    opt->set_grad_clipping(1.0);
  }
  std::vector<std::vector<double>> out;
  for (int step = 0; step < kIsaSteps; ++step) {
    for (auto& grad : grads)
      grad->set(random_values(rng, grad->numel(), mode.amp ? 512.0 : 0.5, c.dtype));
    opt->step();
    std::size_t k = 0;
    for (std::size_t g = 0; g < kIsaGroups.size(); ++g)
      for (std::size_t i = 0; i < kIsaGroups[g].size(); ++i, ++k) {
        out.push_back(values[k]->get());
        for (const std::string& name : opt->state_names(g)) {
          const std::vector<float> state = opt->state(g, i, name);
          out.emplace_back(state.begin(), state.end());
        }
      }
  }
  return out;
}

class CpuIsaTest : public ::testing::TestWithParam<Case> {};

TEST_P(CpuIsaTest, EveryLevelGivesTheBaselineBits) {
  const Case& c = GetParam();
  const kernels::CpuIsa detected = kernels::detected_cpu_isa();
  if (detected == kernels::CpuIsa::baseline)
    GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512: only the baseline loops exist here";
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (const IsaMode& mode : isa_modes(c.dtype))
    for (Impl impl : {Impl::Fused}) {
      const auto want = isa_trajectory(c, mode, impl, kernels::CpuIsa::baseline, seed);
      for (int level = 1; level <= int(detected); ++level) {
        const auto isa = kernels::CpuIsa(level);
        const auto got = isa_trajectory(c, mode, impl, isa, seed);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t t = 0; t < got.size(); ++t) {
          ASSERT_EQ(got[t].size(), want[t].size());
          for (std::size_t e = 0; e < got[t].size(); ++e)
            ASSERT_EQ(std::memcmp(&got[t][e], &want[t][e], sizeof(double)), 0)
                << kernels::to_string(isa) << " vs baseline, mode " << mode.name << ", Impl::"
                << to_string(impl) << ", tensor/state " << t << " element " << e << ": "
                << got[t][e] << " vs " << want[t][e];
        }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(AllOptions, CpuIsaTest, ::testing::ValuesIn(all_cases({Executor::cpu})),
                         case_name);

}  // namespace
}  // namespace fusedopt::testing
