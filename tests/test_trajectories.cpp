// Every optimizer x option combination x dtype x executor against the double reference over
// 20-step trajectories, with several param groups (one overriding lr, one flipping a mode flag),
// the edge lengths of the chunking (0, 1, not a multiple of the vector width, chunk + 3,
// 2 chunks + 1), misaligned tensors (scalar path), fresh random data each step, and guard zones
// that must stay poisoned.
//
// Tolerances are normwise: every element satisfies |x - ref| <= rtol * max|ref| + atol, with
// max|ref| over the tensor and the whole trajectory. (Elementwise relative error is meaningless for values that cross
// zero during the trajectory: the float error is relative to the O(1) terms that cancelled.)
// The reference rounds parameters to the storage dtype after every step (NOTE(storage-rounding)).
//   f32:  rtol 1e-6, atol 0. Float arithmetic and fp32 state vs double over 20 steps.
//   f16:  rtol 2e-3 (4 ulp at the tensor's scale), atol 0. A rounding decided differently (the
//         exact update near a rounding midpoint) moves an element by an ulp.
//   bf16: rtol 1.6e-2 (2 ulp at the tensor's scale), atol 0. As f16, for bf16's 8-bit mantissa.
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "reference/reference.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

constexpr int kSteps = 20;

struct Tolerance {
  double rtol, atol;
};
Tolerance tolerance(DType dtype) {
  switch (dtype) {
    case DType::f32: return {1e-6, 0};
    case DType::f16: return {2e-3, 0};
    case DType::bf16: return {1.6e-2, 0};
  }
  return {0, 0};
}

enum class Algo { SGD, Adam, AdamW };
const char* algo_name(Algo a) { return a == Algo::SGD ? "SGD" : a == Algo::Adam ? "Adam" : "AdamW"; }

/// One option combination. For SGD: momentum, dampening, nesterov, weight_decay, maximize;
/// for Adam/AdamW: amsgrad, weight_decay, maximize.
struct Combo {
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, amsgrad = false, maximize = false;
};

struct Case {
  Algo algo;
  Combo combo;
  DType dtype;
  Device device;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << algo_name(c.algo) << " " << to_string(c.dtype) << " " << c.device.str();
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::ostringstream os;
  os << algo_name(c.algo) << "_" << to_string(c.dtype) << "_" << (c.device.is_cuda() ? "cuda" : "cpu");
  if (c.algo == Algo::SGD)
    os << "_mom" << (c.combo.momentum != 0) << "_damp" << (c.combo.dampening != 0) << "_nest"
       << c.combo.nesterov;
  else
    os << "_ams" << c.combo.amsgrad;
  os << "_wd" << (c.combo.weight_decay != 0) << "_max" << c.combo.maximize << "_" << info.index;
  return os.str();
}

// NOTE(test-weight-decay): adaptive optimizers divide by a running magnitude of the gradient, so
// at the first step the update lr * g / (|g| + eps) is ill-conditioned where the L2-decayed
// gradient g + wd * p cancels to nearly zero: any float rounding in wd * p is amplified up to
// lr * 1e8 times. A power-of-two weight decay makes wd * p exact and, by Sterbenz' lemma, the
// cancelling sum exact too, so the comparison measures the optimizer, not that conditioning.
constexpr double kAdaptiveWeightDecay = 0.125;

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (Device device : all_devices())
    for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
      for (double momentum : {0.0, 0.9})
        for (double dampening : {0.0, 0.25})
          for (bool nesterov : {false, true})
            for (double wd : {0.0, 0.05})
              for (bool maximize : {false, true}) {
                if (nesterov && (momentum == 0 || dampening != 0)) continue;  // invalid in torch
                Combo c;
                c.momentum = momentum;
                c.dampening = dampening;
                c.nesterov = nesterov;
                c.weight_decay = wd;
                c.maximize = maximize;
                cases.push_back({Algo::SGD, c, dtype, device});
              }
      for (Algo algo : {Algo::Adam, Algo::AdamW})
        for (bool amsgrad : {false, true})
          for (double wd : {0.0, kAdaptiveWeightDecay})
            for (bool maximize : {false, true}) {
              Combo c;
              c.amsgrad = amsgrad;
              c.weight_decay = wd;
              c.maximize = maximize;
              cases.push_back({algo, c, dtype, device});
            }
    }
  return cases;
}

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
constexpr double kGroup1Lr = 0.05;  // SGD; Adam family uses kGroup1AdamLr
constexpr double kGroup1AdamLr = 3e-3;

/// One reference optimizer per parameter, with the config its group resolves to.
struct ReferenceParam {
  reference::Vec value;
  reference::SGDConfig sgd;
  reference::SGDState sgd_state;
  reference::AdamConfig adam;
  reference::AdamState adam_state;
  double max_abs = 0;  // largest |value| along the trajectory: the scale of the float error
  void track() {
    for (double x : value) max_abs = std::max(max_abs, std::abs(x));
  }
  void step(Algo algo, const reference::Vec& grad) {
    if (algo == Algo::SGD)
      reference::sgd_step(sgd, value, grad, sgd_state);
    else
      reference::adam_step(adam, value, grad, adam_state);
  }
};

class TrajectoryTest : public ::testing::TestWithParam<Case> {};

TEST_P(TrajectoryTest, MatchesReferenceOver20Steps) {
  const Case c = GetParam();
  FUSEDOPT_SKIP_WITHOUT_DEVICE(c.device);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  // Parameters, gradients and the reference copies.
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<std::vector<Param>> groups(kGroups.size());
  std::vector<ReferenceParam> refs;
  for (std::size_t g = 0; g < kGroups.size(); ++g)
    for (const TensorSpec& spec : kGroups[g]) {
      values.push_back(std::make_unique<GuardedTensor>(spec.numel, c.dtype, c.device, spec.misalign));
      grads.push_back(std::make_unique<GuardedTensor>(spec.numel, c.dtype, c.device, spec.misalign));
      ReferenceParam ref;
      ref.value = random_values(rng, spec.numel, 1.0, c.dtype);
      values.back()->set(ref.value);
      ref.track();
      // Group configs, resolved by hand (independently of the library's inheritance code).
      ref.sgd = {0.01, c.combo.momentum, c.combo.dampening, c.combo.weight_decay,
                 c.combo.nesterov, c.combo.maximize};
      ref.adam = {1e-3, 0.9, 0.999, 1e-8, c.combo.weight_decay, c.combo.amsgrad, c.combo.maximize,
                  c.algo == Algo::AdamW};
      if (g == 1) {
        ref.sgd.lr = kGroup1Lr;
        ref.adam.lr = kGroup1AdamLr;
      }
      if (g == 2) {
        ref.sgd.maximize = !c.combo.maximize;
        ref.adam.maximize = !c.combo.maximize;
      }
      refs.push_back(std::move(ref));
      groups[g].push_back({values.back()->view(), grads.back()->view()});
    }

  std::unique_ptr<Optimizer> opt;
  if (c.algo == Algo::SGD) {
    const auto defaults = SGDOptions().lr(0.01).momentum(c.combo.momentum).dampening(c.combo.dampening)
                              .weight_decay(c.combo.weight_decay).nesterov(c.combo.nesterov)
                              .maximize(c.combo.maximize);
    opt = std::make_unique<SGD>(
        std::vector<SGD::Group>{{groups[0], std::nullopt},
                                {groups[1], SGDOptions().lr(kGroup1Lr)},
                                {groups[2], SGDOptions().maximize(!c.combo.maximize)}},
        defaults);
  } else {
    auto make = [&](auto defaults, auto group1, auto group2) -> std::unique_ptr<Optimizer> {
      defaults.weight_decay(c.combo.weight_decay).amsgrad(c.combo.amsgrad).maximize(c.combo.maximize);
      using Opt = std::conditional_t<std::is_same_v<decltype(defaults), AdamOptions>, Adam, AdamW>;
      return std::make_unique<Opt>(
          std::vector<typename Opt::Group>{{groups[0], std::nullopt},
                                           {groups[1], group1.lr(kGroup1AdamLr)},
                                           {groups[2], group2.maximize(!c.combo.maximize)}},
          defaults);
    };
    opt = c.algo == Algo::Adam ? make(AdamOptions(), AdamOptions(), AdamOptions())
                               : make(AdamWOptions(), AdamWOptions(), AdamWOptions());
  }

  const Tolerance tol = tolerance(c.dtype);
  for (int step = 1; step <= kSteps; ++step) {
    for (std::size_t t = 0; t < refs.size(); ++t) {
      const auto grad = random_values(rng, grads[t]->numel(), 0.5, c.dtype);
      grads[t]->set(grad);
      refs[t].step(c.algo, grad);
      // NOTE(storage-rounding): the stored parameter is rounded to its dtype after every step
      // (f32 included), as any implementation must; the comparison then measures the
      // optimizer's arithmetic, not 20 unavoidable roundings of the parameter itself.
      for (double& x : refs[t].value) x = round_to(c.dtype, x);
      refs[t].track();
    }
    opt->step();
    if (step != 1 && step != kSteps) continue;
    for (std::size_t t = 0; t < refs.size(); ++t) {
      const std::vector<double> got = values[t]->get();
      const double scale = refs[t].max_abs;
      int reported = 0;
      for (std::size_t i = 0; i < got.size() && reported < 5; ++i) {
        const double want = refs[t].value[i];
        if (!(std::abs(got[i] - want) <= tol.rtol * scale + tol.atol)) {
          ADD_FAILURE() << "step " << step << " tensor " << t << " (numel " << got.size()
                        << ") element " << i << ": got " << got[i] << ", reference " << want
                        << ", error/max|ref| = " << std::abs(got[i] - want) / scale;
          ++reported;
        }
      }
      ASSERT_EQ(reported, 0);
      EXPECT_TRUE(values[t]->guards_intact()) << "write outside tensor " << t;
      EXPECT_TRUE(grads[t]->guards_intact()) << "write outside gradient " << t;
    }
  }
  for (std::size_t g = 0, t = 0; g < kGroups.size(); ++g)
    for (std::size_t i = 0; i < kGroups[g].size(); ++i, ++t)
      EXPECT_EQ(opt->step_count(g, i), double(kSteps)) << "group " << g << " param " << i;
}

INSTANTIATE_TEST_SUITE_P(AllOptions, TrajectoryTest, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace fusedopt::testing
