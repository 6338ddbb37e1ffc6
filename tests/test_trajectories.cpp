// Every optimizer x option combination x dtype x executor x implementation (Loop, Foreach,
// Fused: three optimizers side by side on the same gradients) against the double reference over
// 20-step trajectories: three param groups (group 1 overrides lr, group 2 flips `maximize`),
// the chunking's edge lengths (0, 1, not a multiple of the vector width, chunk + 3,
// 2 chunks + 1), misaligned tensors (scalar path), fresh random data each step, guard zones
// that must stay poisoned, and the optimizer state (torch's names) as well as the parameters.
//
// Parameters: f32 is normwise, |x - ref| <= 1e-6 * scale for every element, with scale the
// largest |ref| of that tensor over the whole trajectory (elementwise relative error is
// meaningless for values that cross zero: the float error is relative to the O(1) terms that
// cancelled). f16 and bf16 are per element, in ulps: |x - ref| <= 2 ulp of the largest |ref| that
// element held along the trajectory. The reference rounds parameters to the storage dtype after
// every step (NOTE(storage-rounding)). NOTE(storage-divergence): a rounding decided differently
// (the exact update within float error of a midpoint) moves an element by one ulp, and from
// then on that element's trajectory is its own: updates below half an ulp are lost on one side
// of a binade boundary and not on the other, so the gap can grow by an update a step (seen:
// 2.5 ulp at step 20 from a 1-ulp start). So the 2-byte parameters are checked at every step,
// and an element, once it differs from the reference (within 2 ulp), leaves the value check;
// such elements must stay rare (kMaxDepartedFraction), which a wrong rounding or update term,
// felt by most elements, is not. The 2-byte runs take learning rates 10x the f32 runs' (Lion
// 100x), so that an update exceeds half an ulp of most elements and a wrong or missing update
// term shows within 2 ulp.
// State (fp32 for every parameter dtype) is normwise at 1e-6 of its scale, plus, for an element
// whose parameter has ever differed from the reference, that difference (state that reads the
// parameter: L2 weight decay, ASGD's average).
#include <gtest/gtest.h>

#include <algorithm>
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

constexpr double kF32Tolerance = 1e-6;
/// Adadelta's acc_delta compounds its own error: each step's delta is g times
/// sqrt((acc_delta + eps) / (square_avg + eps)) (five roundings, more through Impl::Loop's fp32
/// temporaries), and acc_delta averages delta^2 over the ~1 / (1 - rho) steps it remembers, so
/// its float error grows past the other states'. Measured: 1.004e-6 of the state's scale at one
/// element of 4,099 (seed 9725882935880470894, Impl::Loop, step 20).
constexpr double kAccDeltaGrowth = 4;
/// 2-byte parameters: this many ulps of the element's largest |reference| so far.
constexpr double kUlps = 2;
/// 2-byte parameters: at most this fraction of an implementation's elements may leave the
/// reference's trajectory by a rounding decided differently (NOTE(storage-divergence)).
/// Measured (2026-12-07) over every 2-byte case on the CPU executor and the emulated device: at
/// most 0.38 % (Adadelta_hp f16, 1,006 of 267,300 elements); a wrong rounding moves about half.
constexpr double kMaxDepartedFraction = 0.01;

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
/// Group 1 takes its own options (set alike on the library's group and the reference's Config:
/// `group1_lr`, or a Group1 function for other hyper-parameters); group 2 flips `maximize`.
/// f16/bf16 cases multiply every lr by `narrow_lr_scale` (the header's tolerance rule).
template <class Options, class Config, class State>
class CaseBuilder {
 public:
  using StepFn = void (*)(const Config&, Vec&, const Vec&, State&);
  using StateFn = std::map<std::string, const Vec*> (*)(const State&);
  /// Sets group 1's options on both sides; `lr_scale` multiplies any lr it sets.
  using Group1 = std::function<void(Options&, Config&, double lr_scale)>;
  using Ambiguous = std::function<void(const Config&, const State&, const Vec&, std::vector<char>&)>;

  CaseBuilder(std::vector<Case>& out, const std::vector<Executor>& executors, StepFn step,
              StateFn state, double narrow_lr_scale = 10)
      : out_(out), executors_(executors), step_(step), state_(state),
        narrow_lr_scale_(narrow_lr_scale) {}

  void add(const std::string& name, Options defaults, Config config, double group1_lr,
           Ambiguous ambiguous = {}) {
    add(name, defaults, config,
        [group1_lr](Options& o, Config& c, double lr_scale) {
          o.lr(group1_lr * lr_scale);
          c.lr = group1_lr * lr_scale;
        },
        ambiguous);
  }

  void add(const std::string& name, Options defaults, Config config, Group1 group1,
           Ambiguous ambiguous = {}) {
    for (Executor executor : executors_)
      for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
        const double lr_scale = dtype == DType::f32 ? 1.0 : narrow_lr_scale_;
        Options d = defaults;
        d.lr(defaults.lr() * lr_scale);
        std::vector<Config> configs(3, config);
        configs[0].lr *= lr_scale;
        configs[1] = configs[0];
        configs[2] = configs[0];
        Options o1;
        group1(o1, configs[1], lr_scale);
        configs[2].maximize = !configs[2].maximize;
        Case c;
        std::ostringstream id;
        id << name << "_" << to_string(dtype) << "_" << to_string(executor);
        c.name = id.str();
        c.dtype = dtype;
        c.executor = executor;
        c.device = device_of(executor);
        c.make = [d, o1](const std::vector<std::vector<Param>>& groups) {
          using Opt = FusedOptimizer<Options>;
          std::vector<typename Opt::Group> spec = {
              {groups[0], std::nullopt},
              {groups[1], o1},
              {groups[2], Options().maximize(!d.maximize())}};
          return std::unique_ptr<Optimizer>(std::make_unique<Opt>(std::move(spec), d));
        };
        StepFn step = step_;
        StateFn state = state_;
        c.reference = [=](std::size_t group) {
          const Config cfg = configs[std::min<std::size_t>(group, 2)];
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
  double narrow_lr_scale_;
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
  // NOTE(hyper-parameters): each optimizer has one case with every numeric option away from its
  // default and group 1 overriding each of them again, so a kernel that reads an option from the
  // wrong slot or the wrong group fails.
  sgd.add("SGD_hp", SGDOptions().lr(0.01).momentum(0.8).dampening(0.25).weight_decay(0.05),
          {0.01, 0.8, 0.25, 0.05, false, false}, [](SGDOptions& o, r::SGDConfig& c, double s) {
            o.lr(0.03 * s).momentum(0.5).dampening(0.1).weight_decay(0.02);
            c.lr = 0.03 * s, c.momentum = 0.5, c.dampening = 0.1, c.weight_decay = 0.02;
          });

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
  for (bool decoupled : tf) {
    // eps 1e-3 and 1e-2 are 0.2% and 2% of sqrt(v) here: their effect shows.
    const double wd0 = decoupled ? 0.1 : kWd, wd1 = decoupled ? 0.05 : 2 * kWd;
    auto group1 = [=](auto& o, r::AdamConfig& c, double s) {
      o.lr(3e-3 * s).betas({0.7, 0.9}).eps(1e-2).weight_decay(wd1);
      c.lr = 3e-3 * s, c.beta1 = 0.7, c.beta2 = 0.9, c.eps = 1e-2, c.weight_decay = wd1;
    };
    const r::AdamConfig config{1e-3, 0.8, 0.95, 1e-3, wd0, true, false, decoupled};
    if (decoupled)
      adamw.add("AdamW_hp", AdamWOptions().lr(1e-3).betas({0.8, 0.95}).eps(1e-3).weight_decay(wd0).amsgrad(true),
                config, group1);
    else
      adam.add("Adam_hp", AdamOptions().lr(1e-3).betas({0.8, 0.95}).eps(1e-3).weight_decay(wd0).amsgrad(true),
               config, group1);
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
  rmsprop.add("RMSprop_hp",
              RMSpropOptions().lr(1e-3).alpha(0.9).eps(1e-3).weight_decay(kWd).momentum(0.5).centered(true),
              {1e-3, 0.9, 1e-3, kWd, 0.5, true, false},
              [](RMSpropOptions& o, r::RMSpropConfig& c, double s) {
                o.lr(3e-3 * s).alpha(0.8).eps(1e-2).weight_decay(2 * kWd).momentum(0.3);
                c.lr = 3e-3 * s, c.alpha = 0.8, c.eps = 1e-2, c.weight_decay = 2 * kWd, c.momentum = 0.3;
              });

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
  adagrad.add("Adagrad_hp",
              AdagradOptions().lr(1e-2).lr_decay(0.01).weight_decay(kWd).initial_accumulator_value(0.1).eps(1e-3),
              {1e-2, 0.01, kWd, 0.1, 1e-3, false},
              [](AdagradOptions& o, r::AdagradConfig& c, double s) {
                o.lr(3e-2 * s).lr_decay(0.05).weight_decay(2 * kWd).initial_accumulator_value(0.2).eps(1e-2);
                c.lr = 3e-2 * s, c.lr_decay = 0.05, c.weight_decay = 2 * kWd;
                c.initial_accumulator_value = 0.2, c.eps = 1e-2;
              });

  CaseBuilder<AdamaxOptions, r::AdamaxConfig, r::AdamaxState> adamax(
      cases, executors, r::adamax_step, [](const r::AdamaxState& s) {
        return std::map<std::string, const Vec*>{{"exp_avg", &s.exp_avg}, {"exp_inf", &s.exp_inf}};
      });
  for (bool wd : tf)
    for (bool maximize : tf)
      adamax.add("Adamax" + flags({{"wd", wd}, {"max", maximize}}),
                 AdamaxOptions().weight_decay(wd ? kWd : 0).maximize(maximize),
                 {2e-3, 0.9, 0.999, 1e-8, wd ? kWd : 0, maximize}, 5e-3);
  adamax.add("Adamax_hp", AdamaxOptions().lr(2e-3).betas({0.8, 0.95}).eps(1e-3).weight_decay(kWd),
             {2e-3, 0.8, 0.95, 1e-3, kWd, false},
             [](AdamaxOptions& o, r::AdamaxConfig& c, double s) {
               o.lr(5e-3 * s).betas({0.7, 0.9}).eps(1e-2).weight_decay(2 * kWd);
               c.lr = 5e-3 * s, c.beta1 = 0.7, c.beta2 = 0.9, c.eps = 1e-2, c.weight_decay = 2 * kWd;
             });

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
  for (bool decoupled : tf) {
    const std::string d = decoupled ? "_decoupled" : "";
    nadam.add("NAdam_hp" + d,
              NAdamOptions().lr(2e-3).betas({0.8, 0.95}).eps(1e-3).weight_decay(kWd)
                  .momentum_decay(1e-2).decoupled_weight_decay(decoupled),
              {2e-3, 0.8, 0.95, 1e-3, kWd, 1e-2, decoupled, false},
              [](NAdamOptions& o, r::NAdamConfig& c, double s) {
                o.lr(5e-3 * s).betas({0.7, 0.9}).eps(1e-2).weight_decay(2 * kWd).momentum_decay(2e-2);
                c.lr = 5e-3 * s, c.beta1 = 0.7, c.beta2 = 0.9, c.eps = 1e-2;
                c.weight_decay = 2 * kWd, c.momentum_decay = 2e-2;
              });
    // beta2 0.9 and 0.85: rho_t passes 5 within the trajectory in both groups.
    radam.add("RAdam_hp" + d,
              RAdamOptions().lr(1e-3).betas({0.8, 0.9}).eps(1e-3).weight_decay(kWd)
                  .decoupled_weight_decay(decoupled),
              {1e-3, 0.8, 0.9, 1e-3, kWd, decoupled, false},
              [](RAdamOptions& o, r::RAdamConfig& c, double s) {
                o.lr(3e-3 * s).betas({0.7, 0.85}).eps(1e-2).weight_decay(2 * kWd);
                c.lr = 3e-3 * s, c.beta1 = 0.7, c.beta2 = 0.85, c.eps = 1e-2, c.weight_decay = 2 * kWd;
              });
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
  adadelta.add("Adadelta_hp", AdadeltaOptions().lr(1.0).rho(0.8).eps(1e-4).weight_decay(kWd),
               {1.0, 0.8, 1e-4, kWd, false},
               [](AdadeltaOptions& o, r::AdadeltaConfig& c, double s) {
                 o.lr(0.5 * s).rho(0.7).eps(1e-3).weight_decay(2 * kWd);
                 c.lr = 0.5 * s, c.rho = 0.7, c.eps = 1e-3, c.weight_decay = 2 * kWd;
               });

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
  rprop.add("Rprop_hp", RpropOptions().lr(1e-2).etas({0.3, 1.4}).step_sizes({1e-4, 5e-2}),
            {1e-2, 0.3, 1.4, 1e-4, 5e-2, false},
            [](RpropOptions& o, r::RpropConfig& c, double s) {
              o.lr(5e-3 * s).etas({0.4, 1.1}).step_sizes({1e-3, 2e-2});
              c.lr = 5e-3 * s, c.eta_minus = 0.4, c.eta_plus = 1.1;
              c.step_size_min = 1e-3, c.step_size_max = 2e-2;
            });

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
  asgd.add("ASGD_hp", ASGDOptions().lr(1e-2).lambd(0.01).alpha(0.5).t0(5).weight_decay(0.05),
           {1e-2, 0.01, 0.5, 5, 0.05, false},
           [](ASGDOptions& o, r::ASGDConfig& c, double s) {
             o.lr(3e-2 * s).lambd(0.02).alpha(0.6).t0(3).weight_decay(0.02);
             c.lr = 3e-2 * s, c.lambd = 0.02, c.alpha = 0.6, c.t0 = 3, c.weight_decay = 0.02;
           });

  // NOTE(sign-ties): Lion's update is lr * sign(beta1 * m + (1 - beta1) * g). Where that value
  // is within float rounding of zero, float and double may take different signs; such elements
  // are excluded from the comparison for the rest of the trajectory. "Within rounding" is 1e-4
  // of the two terms, not a few ulps: the float m carries the rounding of every step it averaged
  // (beta2 = 0.99 remembers ~100), relative to the history's terms, which exceed |m| where m
  // has cancelled; at 1e-6 a CI run saw a flipped sign (seed 13900687100702873164, Impl::Loop,
  // element 56192 of 65,539, step 20).
  auto lion_ambiguous = [](const r::LionConfig& c, const r::LionState& s, const Vec& grad,
                           std::vector<char>& mask) {
    for (std::size_t i = 0; i < grad.size(); ++i) {
      const double g = c.maximize ? -grad[i] : grad[i];
      const double m = s.exp_avg.empty() ? 0.0 : s.exp_avg[i];
      const double direction = c.beta1 * m + (1 - c.beta1) * g;
      if (std::abs(direction) <= 1e-4 * (std::abs(c.beta1 * m) + std::abs((1 - c.beta1) * g)))
        mask[i] = 1;
    }
  };
  // Lion's update is lr per element: 100x in f16/bf16, so that it and its weight decay show.
  CaseBuilder<LionOptions, r::LionConfig, r::LionState> lion(
      cases, executors, r::lion_step, [](const r::LionState& s) {
        return std::map<std::string, const Vec*>{{"exp_avg", &s.exp_avg}};
      }, 100);
  for (bool wd : tf)
    for (bool maximize : tf)
      lion.add("Lion" + flags({{"wd", wd}, {"max", maximize}}),
               LionOptions().weight_decay(wd ? 0.1 : 0).maximize(maximize),
               {1e-4, 0.9, 0.99, wd ? 0.1 : 0, maximize}, 3e-4, lion_ambiguous);
  lion.add("Lion_hp", LionOptions().lr(1e-4).betas({0.8, 0.95}).weight_decay(0.1),
           {1e-4, 0.8, 0.95, 0.1, false},
           [](LionOptions& o, r::LionConfig& c, double s) {
             o.lr(3e-4 * s).betas({0.7, 0.9}).weight_decay(0.05);
             c.lr = 3e-4 * s, c.beta1 = 0.7, c.beta2 = 0.9, c.weight_decay = 0.05;
           }, lion_ambiguous);
  return cases;
}

class TrajectoryTest : public ::testing::TestWithParam<Case> {};

/// Checks every element of `got` against `want` within tolerance(i); reports up to 5.
template <class Tolerance>
void expect_close(const std::vector<double>& got, const Vec& want, const std::vector<char>& skip,
                  const Tolerance& tolerance, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < got.size() && reported < 5; ++i) {
    if (skip[i]) continue;
    const double tol = tolerance(i);
    if (!(std::abs(got[i] - want[i]) <= tol)) {
      ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", reference "
                    << want[i] << ", error " << std::abs(got[i] - want[i]) << " > tolerance " << tol;
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

constexpr Impl kImpls[] = {Impl::Loop, Impl::Foreach, Impl::Fused};
constexpr std::size_t kNumImpls = std::size(kImpls);

TEST_P(TrajectoryTest, MatchesReferenceOver20Steps) {
  const Case& c = GetParam();
  FUSEDOPT_USE_EXECUTOR(c.executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  struct Tensor {
    std::unique_ptr<GuardedTensor> value[kNumImpls];  // one copy per implementation
    std::unique_ptr<GuardedTensor> grad;              // read by all three
    std::size_t group, index;
    ReferenceParam ref;
    Vec ref_value;
    double scale = 0;                                 // max |value| along the trajectory
    double grad_scale = 0;                            // max |grad| along the trajectory
    std::map<std::string, double> state_scale;        // same, per state tensor
    std::vector<double> peak;                         // per element: max |value| so far
    std::vector<double> diverged[kNumImpls];          // per element: max |value - ref| so far
    std::vector<char> departed[kNumImpls];            // NOTE(storage-divergence)
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
      t.peak.resize(std::size_t(spec.numel));
      for (std::size_t e = 0; e < t.peak.size(); ++e) t.peak[e] = std::abs(t.ref_value[e]);
      t.ambiguous.assign(std::size_t(spec.numel), 0);
      for (std::size_t k = 0; k < kNumImpls; ++k) {
        t.value[k] = std::make_unique<GuardedTensor>(spec.numel, c.dtype, c.device, spec.misalign);
        t.value[k]->set(t.ref_value);
        t.diverged[k].assign(std::size_t(spec.numel), 0.0);
        t.departed[k].assign(std::size_t(spec.numel), 0);
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

  for (int step = 1; step <= kSteps; ++step) {
    for (Tensor& t : tensors) {
      const Vec grad = random_values(rng, t.grad->numel(), 0.5, c.dtype);
      t.grad->set(grad);
      if (t.ref.mark_ambiguous) t.ref.mark_ambiguous(grad, t.ambiguous);
      t.ref.step(t.ref_value, grad);
      t.grad_scale = std::max(t.grad_scale, max_abs(grad));
      for (double& x : t.ref_value) x = round_to(c.dtype, x);  // NOTE(storage-rounding)
      t.scale = std::max(t.scale, max_abs(t.ref_value));
      for (std::size_t e = 0; e < t.peak.size(); ++e)
        t.peak[e] = std::max(t.peak[e], std::abs(t.ref_value[e]));
      for (const auto& [name, vec] : t.ref.state())
        t.state_scale[name] = std::max(t.state_scale[name], max_abs(*vec));
    }
    for (auto& opt : opts) opt->step();
    const bool check = step == 1 || step == 2 || step == kSteps;
    for (std::size_t k = 0; k < kNumImpls; ++k) {
      const Optimizer& opt = *opts[k];
      for (Tensor& t : tensors) {
        const std::vector<double> value = t.value[k]->get();
        for (std::size_t e = 0; e < value.size(); ++e)
          t.diverged[k][e] = std::max(t.diverged[k][e], std::abs(value[e] - t.ref_value[e]));
        const bool two_byte = c.dtype != DType::f32;
        if (!check && !two_byte) continue;
        const std::string where = std::string("Impl::") + to_string(kImpls[k]) + " step " +
                                  std::to_string(step) + " param_groups[" +
                                  std::to_string(t.group) + "].params[" +
                                  std::to_string(t.index) + "] (numel " +
                                  std::to_string(t.grad->numel()) + ")";
        if (two_byte) {  // NOTE(storage-divergence): every step, elements still on the trajectory
          std::vector<char> skip = t.ambiguous;
          for (std::size_t e = 0; e < skip.size(); ++e) skip[e] |= t.departed[k][e];
          expect_close(value, t.ref_value, skip,
                       [&](std::size_t e) { return kUlps * ulp(c.dtype, t.peak[e]); },
                       where + " value");
          for (std::size_t e = 0; e < value.size(); ++e)
            if (value[e] != t.ref_value[e]) t.departed[k][e] = 1;
        } else {
          expect_close(value, t.ref_value, t.ambiguous,
                       [&](std::size_t) { return kF32Tolerance * t.scale; }, where + " value");
        }
        if (!check) {
          ASSERT_FALSE(::testing::Test::HasFailure()) << "stopping at the first step that differs";
          continue;
        }
        for (const std::string& name : opt.state_names(t.group)) {
          const auto ref_state = t.ref.state();
          const auto found = ref_state.find(name);
          ASSERT_NE(found, ref_state.end()) << "the reference has no state " << name;
          if (found->second->empty()) continue;  // torch has not created it (e.g. no momentum)
          const std::vector<float> got = opt.state(t.group, t.index, name);
          const double scale = state_scale(t, name);
          // ASGD's ax averages the parameter as stored (torch keeps it in the parameter's
          // dtype), where the reference averages its unrounded double: a 2-byte parameter's
          // storage rounding on top of the fp32 tolerance.
          const bool stored_param = name == "ax" && c.dtype != DType::f32;
          expect_close(std::vector<double>(got.begin(), got.end()), *found->second, t.ambiguous,
                       [&](std::size_t e) {
                         return kF32Tolerance * (name == "acc_delta" ? kAccDeltaGrowth : 1) * scale +
                                t.diverged[k][e] +
                                (stored_param ? kUlps * ulp(c.dtype, t.peak[e]) : 0.0);
                       },
                       where + " state " + name);
        }
        ASSERT_FALSE(::testing::Test::HasFailure()) << "stopping at the first step that differs";
        EXPECT_TRUE(t.value[k]->guards_intact()) << where << ": write outside the parameter";
        EXPECT_TRUE(t.grad->guards_intact()) << where << ": write outside the gradient";
      }
    }
  }
  for (const auto& opt : opts)
    for (const Tensor& t : tensors) EXPECT_EQ(opt->step_count(t.group, t.index), double(kSteps));
  for (std::size_t k = 0; k < kNumImpls; ++k) {  // NOTE(storage-divergence)
    std::size_t departed = 0, total = 0;
    for (const Tensor& t : tensors) {
      departed += std::size_t(std::count(t.departed[k].begin(), t.departed[k].end(), 1));
      total += t.departed[k].size();
    }
    EXPECT_LE(double(departed), kMaxDepartedFraction * double(total))
        << "Impl::" << to_string(kImpls[k]) << ": " << departed << " of " << total
        << " elements left the reference's trajectory";
  }
}

// NOTE(one-list): a new optimizer in cmake/optimizers.cmake needs its cases here (or, with a
// host of its own like AdamWScheduleFree, a suite of its own: tests/test_schedule_free.cpp).
TEST(TrajectoryCases, CoverEveryListedOptimizer) {
  std::vector<std::string> names;
  for (const Case& c : all_cases({Executor::cpu})) names.push_back(c.name);
  EXPECT_EQ(uncovered_optimizers(names, {"AdamWScheduleFree"}), std::vector<std::string>{});
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
                                                kernels::CpuIsa isa, std::uint64_t seed,
                                                const std::vector<std::vector<TensorSpec>>& layout = kIsaGroups) {
  struct RestoreIsa {
    kernels::CpuIsa before;
    ~RestoreIsa() { kernels::set_cpu_isa(before); }
  } restore{kernels::set_cpu_isa(isa)};
  std::mt19937_64 rng(seed);
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<std::vector<Param>> groups(layout.size());
  for (std::size_t g = 0; g < layout.size(); ++g)
    for (const TensorSpec& spec : layout[g]) {
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
    for (std::size_t g = 0; g < layout.size(); ++g)
      for (std::size_t i = 0; i < layout[g].size(); ++i, ++k) {
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
    FUSEDOPT_SKIP_OR_FAIL_IN_CI("this CPU has neither AVX2 nor AVX-512: only the baseline loops exist here");
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

// The CPU executor at 2 and 8 threads gives one thread's bits: every optimizer's hyper-parameter
// case and dtype, every implementation, under every mode of the instruction-set check (clipping's
// norm included), over tensors of several chunks each.
const std::vector<std::vector<TensorSpec>> kThreadGroups = {
    {{1, 0}, {2 * 65536 + 5, 0}},
    {{70001, 3}},
    {{7, 1}, {4099, 0}},
};

class CpuThreadsTest : public ::testing::TestWithParam<Case> {};

TEST_P(CpuThreadsTest, EveryThreadCountGivesOneThreadsBits) {
  const Case& c = GetParam();
  if (!UseThreads::available())
    FUSEDOPT_SKIP_OR_FAIL_IN_CI("built without OpenMP: the CPU executor runs one thread");
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const kernels::CpuIsa isa = kernels::detected_cpu_isa();
  for (const IsaMode& mode : isa_modes(c.dtype))
    for (Impl impl : kImpls) {
      if (impl != Impl::Fused && mode.name != "plain" && mode.name != "amp") continue;
      std::vector<std::vector<double>> want;
      {
        const UseThreads one(1);
        want = isa_trajectory(c, mode, impl, isa, seed, kThreadGroups);
      }
      for (const int threads : kThreadCounts) {
        const UseThreads use(threads);
        const auto got = isa_trajectory(c, mode, impl, isa, seed, kThreadGroups);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t t = 0; t < got.size(); ++t) {
          ASSERT_EQ(got[t].size(), want[t].size());
          for (std::size_t e = 0; e < got[t].size(); ++e)
            ASSERT_EQ(std::memcmp(&got[t][e], &want[t][e], sizeof(double)), 0)
                << threads << " threads vs 1, mode " << mode.name << ", Impl::" << to_string(impl)
                << ", tensor/state " << t << " element " << e << ": " << got[t][e] << " vs "
                << want[t][e];
        }
      }
    }
}

std::vector<Case> hyper_parameter_cases() {
  std::vector<Case> out;
  for (Case& c : all_cases({Executor::cpu}))
    if (c.name.find("_hp") != std::string::npos) out.push_back(std::move(c));
  return out;
}
INSTANTIATE_TEST_SUITE_P(HyperParameters, CpuThreadsTest,
                         ::testing::ValuesIn(hyper_parameter_cases()), case_name);

}  // namespace
}  // namespace fusedopt::testing
