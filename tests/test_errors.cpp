// The error contract: every bad input throws fusedopt::Error naming the argument and the value,
// and leaves the optimizer exactly as it was (checked by stepping it afterwards and comparing
// with an optimizer that never saw the bad call).
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>

#include "host/engine/configs.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

/// Runs `f`, expects fusedopt::Error whose message contains every one of `needles`.
void expect_error(const std::function<void()>& f, std::initializer_list<const char*> needles) {
  try {
    f();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const char* needle : needles)
      EXPECT_NE(message.find(needle), std::string::npos)
          << "message \"" << message << "\" lacks \"" << needle << "\"";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-fusedopt exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "did not throw";
}

/// Two small CPU parameters with gradients.
struct Fixture {
  GuardedTensor w{8, DType::f32, Device::cpu()}, gw{8, DType::f32, Device::cpu()};
  GuardedTensor b{3, DType::f32, Device::cpu()}, gb{3, DType::f32, Device::cpu()};
  Fixture() {
    w.set({1, 2, 3, 4, 5, 6, 7, 8});
    gw.set({.5, .5, .5, .5, .5, .5, .5, .5});
    b.set({1, 1, 1});
    gb.set({1, 2, 3});
  }
  Param pw() const { return {w.view(), gw.view()}; }
  Param pb() const { return {b.view(), gb.view()}; }
};

TEST(Errors, BadParameters) {
  Fixture f;
  Param null_value = f.pw();
  null_value.value.data = nullptr;
  expect_error([&] { SGD({null_value}); }, {"param_groups[0].params[0].value.data", "null"});

  Param short_grad = f.pw();
  short_grad.grad.numel = 7;
  expect_error([&] { SGD({short_grad}); }, {"params[0].grad.numel", "7", "8"});

  Param wrong_dtype = f.pw();
  wrong_dtype.grad.dtype = DType::bf16;
  expect_error([&] { Adam({wrong_dtype}); }, {"grad.dtype", "bf16", "f32"});

  Param negative = f.pw();
  negative.value.numel = -1;
  expect_error([&] { SGD({negative}); }, {"value.numel", "-1"});

  Param misaligned = f.pw();
  misaligned.value.data = static_cast<char*>(misaligned.value.data) + 1;
  expect_error([&] { SGD({misaligned}); }, {"value.data", "aligned"});

  Param bad_dtype = f.pw();
  bad_dtype.value.dtype = static_cast<DType>(42);
  expect_error([&] { SGD({bad_dtype}); }, {"value.dtype", "42"});
}

TEST(Errors, MixedDevicesInOneGroup) {
  Fixture f;
  Param on_gpu = f.pb();
  on_gpu.value.device = on_gpu.grad.device = Device::cuda(0);
  // Without a GPU the view is rejected for naming a device that does not exist; with one, for
  // differing from the group's device (the host pointer is also not device memory).
  expect_error([&] { SGD({f.pw(), on_gpu}); }, {"param_groups[0].params[1].", "device"});
  Param grad_elsewhere = f.pb();
  grad_elsewhere.grad.device = Device::cuda(3);
  expect_error([&] { SGD({grad_elsewhere}); }, {"params[0].grad", "cuda:3"});
}

TEST(Errors, HostMemoryInACudaView) {
  FUSEDOPT_SKIP_WITHOUT_DEVICE(Device::cuda(0));
  Fixture f;
  Param on_gpu = f.pb();
  on_gpu.value.device = on_gpu.grad.device = Device::cuda(0);
  expect_error([&] { SGD({on_gpu}); },
               {"param_groups[0].params[0].value.data", "host memory", "device cuda:0"});
}

TEST(Errors, SameParameterTwice) {
  Fixture f;
  expect_error([&] { AdamW({{{f.pw()}}, {{f.pb(), f.pw()}}}); },
               {"param_groups[1].params[1].value.data", "same parameter", "param_groups[0].params[0]"});
  Param inside = f.pb();
  inside.value.data = static_cast<float*>(f.w.view().data) + 2;  // overlaps w
  expect_error([&] { SGD({f.pw(), inside}); }, {"overlaps"});
}

TEST(Errors, EmptyGroupsAndLists) {
  Fixture f;
  expect_error([&] { SGD(std::vector<SGD::Group>{}); }, {"param_groups is empty"});
  expect_error([&] { SGD(std::vector<SGD::Group>{{{f.pw()}}, {}}); },
               {"param_groups[1].params is empty"});
}

TEST(Errors, BadOptions) {
  Fixture f;
  expect_error([&] { SGD({f.pw()}, SGDOptions().lr(-0.1)); }, {"lr", "-0.1"});
  expect_error([&] { SGD({f.pw()}, SGDOptions().momentum(-1)); }, {"momentum", "-1"});
  expect_error([&] { SGD({f.pw()}, SGDOptions().weight_decay(-2)); }, {"weight_decay", "-2"});
  expect_error([&] { SGD({f.pw()}, SGDOptions().nesterov(true)); },
               {"momentum", "nesterov", "got 0"});
  expect_error([&] { SGD({f.pw()}, SGDOptions().nesterov(true).momentum(0.9).dampening(0.1)); },
               {"dampening", "nesterov", "0.1"});
  expect_error([&] { Adam({f.pw()}, AdamOptions().betas({1.0, 0.999})); }, {"beta1", "[0, 1)", "got 1"});
  expect_error([&] { Adam({f.pw()}, AdamOptions().betas({0.9, -0.5})); }, {"beta2", "-0.5"});
  expect_error([&] { AdamW({f.pw()}, AdamWOptions().eps(-1e-8)); }, {"eps", "-1e-08"});
  expect_error([&] { AdamW({f.pw()}, AdamWOptions().weight_decay(-0.01)); }, {"weight_decay", "-0.01"});
  expect_error([&] { AdamW({f.pw()}, AdamWOptions().lr(std::nan(""))); }, {"lr", "nan"});
  // A group's own options are validated and named by group.
  expect_error([&] { SGD(std::vector<SGD::Group>{{{f.pw()}}, {{f.pb()}, SGDOptions().lr(-1)}}); },
               {"param_groups[1]", "lr", "-1"});
}

TEST(Errors, BadOptionsOfTheFullOptimizerSet) {
  Fixture f;
  const std::vector<Param> p = {f.pw()};
  expect_error([&] { RMSprop(p, RMSpropOptions().alpha(1.5)); }, {"RMSprop", "alpha", "[0, 1]", "1.5"});
  expect_error([&] { RMSprop(p, RMSpropOptions().alpha(-0.1)); }, {"alpha", "-0.1"});
  expect_error([&] { RMSprop(p, RMSpropOptions().momentum(-1)); }, {"momentum", "-1"});
  expect_error([&] { RMSprop(p, RMSpropOptions().eps(-1)); }, {"eps"});
  expect_error([&] { Adagrad(p, AdagradOptions().lr_decay(-0.5)); }, {"Adagrad", "lr_decay", "-0.5"});
  expect_error([&] { Adagrad(p, AdagradOptions().initial_accumulator_value(-1)); },
               {"initial_accumulator_value", "-1"});
  expect_error([&] { Adamax(p, AdamaxOptions().betas({0.9, 1.0})); }, {"Adamax", "beta2", "got 1"});
  expect_error([&] { NAdam(p, NAdamOptions().momentum_decay(-1)); }, {"NAdam", "momentum_decay"});
  expect_error([&] { RAdam(p, RAdamOptions().betas({-0.1, 0.9})); }, {"RAdam", "beta1", "-0.1"});
  expect_error([&] { Adadelta(p, AdadeltaOptions().rho(1.1)); }, {"Adadelta", "rho", "1.1"});
  expect_error([&] { Adadelta(p, AdadeltaOptions().rho(-0.1)); }, {"rho", "-0.1"});
  expect_error([&] { Rprop(p, RpropOptions().etas({1.5, 1.2})); }, {"Rprop", "eta_minus", "(0, 1)", "1.5"});
  expect_error([&] { Rprop(p, RpropOptions().etas({0.0, 1.2})); }, {"eta_minus", "got 0"});
  expect_error([&] { Rprop(p, RpropOptions().etas({0.5, 0.9})); }, {"eta_plus", "> 1", "0.9"});
  expect_error([&] { Rprop(p, RpropOptions().step_sizes({1.0, 0.5})); }, {"step_size_max", "0.5"});
  expect_error([&] { ASGD(p, ASGDOptions().lambd(-1)); }, {"ASGD", "lambd", "-1"});
  expect_error([&] { ASGD(p, ASGDOptions().t0(-1)); }, {"t0", "-1"});
  expect_error([&] { Lion(p, LionOptions().betas({0.9, 1.5})); }, {"Lion", "beta2", "1.5"});
  expect_error([&] { Lion(p, LionOptions().lr(-1e-4)); }, {"lr", "-0.0001"});

  // get/set by torch name, including the halves of pairs.
  Rprop rprop(p);
  EXPECT_EQ(rprop.get(0, "eta_plus"), 1.2);
  rprop.set(0, "step_size_max", 10.0);
  EXPECT_EQ(rprop.options(0).step_sizes().second, 10.0);
  expect_error([&] { rprop.set(0, "eta_minus", 2.0); }, {"eta_minus", "2"});
  EXPECT_EQ(rprop.get(0, "eta_minus"), 0.5);
  RMSprop rmsprop(p, RMSpropOptions().momentum(0.9).centered(true));
  EXPECT_EQ(rmsprop.state_names(0), (std::vector<std::string>{"square_avg", "grad_avg", "momentum_buffer"}));
  expect_error([&] { rmsprop.state(0, 0, "exp_avg"); }, {"exp_avg", "square_avg"});
  expect_error([&] { rmsprop.set(0, "momentum", 0.0); }, {"state"});  // layout would change
}

// NOTE(option-rules): each rule at its boundaries.
TEST(Errors, OptionRulesAtTheirBoundaries) {
  using detail::broken_rule;
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  for (const double x : {0.0, -0.0, 1e-300, 5.0}) EXPECT_FALSE(broken_rule(Rule::non_negative, x));
  for (const double x : {-1e-300, inf, nan})
    EXPECT_EQ(*broken_rule(Rule::non_negative, x), "finite and >= 0");
  for (const double x : {0.0, 1.0}) EXPECT_FALSE(broken_rule(Rule::unit_interval, x));
  for (const double x : {-1e-300, std::nextafter(1.0, 2.0), nan})
    EXPECT_EQ(*broken_rule(Rule::unit_interval, x), "in [0, 1]");
  EXPECT_FALSE(broken_rule(Rule::beta, 0.0));
  for (const double x : {-1e-300, 1.0, nan}) EXPECT_EQ(*broken_rule(Rule::beta, x), "in [0, 1)");
  EXPECT_FALSE(broken_rule(Rule::open_unit, std::nextafter(1.0, 0.0)));
  for (const double x : {0.0, 1.0, nan}) EXPECT_EQ(*broken_rule(Rule::open_unit, x), "in (0, 1)");
  EXPECT_FALSE(broken_rule(Rule::above_one, std::nextafter(1.0, 2.0)));
  for (const double x : {1.0, inf, nan})
    EXPECT_EQ(*broken_rule(Rule::above_one, x), "finite and > 1");
  EXPECT_FALSE(broken_rule(Rule::at_least_first, 2.0, 2.0, "low"));
  for (const double x : {1.9, inf, nan})
    EXPECT_EQ(*broken_rule(Rule::at_least_first, x, 2.0, "low"), ">= low and finite");
  for (const double x : {-inf, inf, nan}) EXPECT_EQ(*broken_rule(Rule::finite, x), "finite");
  for (const double x : {-inf, nan}) EXPECT_FALSE(broken_rule(Rule::any, x));
}

// Every listed optimizer's every constrained option (and pair half), set to NaN, is refused by
// validate() with a message naming where, the option and its rule; a flag has no rule.
template <class Options>
void expect_every_rule_checked() {
  const std::string where = std::string(Options::kOptimizer) + " test";
  std::size_t checked = 0;
  std::apply(
      [&](auto... f) {
        auto one = [&](auto field) {
          using T = std::decay_t<decltype((Options().*(field.member)).get())>;
          const double nan = std::nan("");
          if constexpr (std::is_same_v<T, double>) {
            if (field.rule == Rule::any) return;
            Options o;
            (o.*(field.member)).set(nan);
            const std::string want = where + ": " + field.name + " must be " +
                                     *detail::broken_rule(field.rule, nan) + ", got nan";
            expect_error([&] { o.validate(where); }, {want.c_str()});
            ++checked;
          } else if constexpr (std::is_same_v<T, Pair>) {
            Options o = Options();
            const Pair good = (o.*(field.member)).get();
            (o.*(field.member)).set({nan, good.second});
            const std::string first = where + ": " + field.name + ".first (" + field.first + ")";
            expect_error([&] { o.validate(where); }, {first.c_str(), "got nan"});
            (o.*(field.member)).set({good.first, nan});
            const std::string second = where + ": " + field.name + ".second (" + field.second + ")";
            expect_error([&] { o.validate(where); }, {second.c_str(), "got nan"});
            checked += 2;
          }
        };
        (one(f), ...);
      },
      Options::fields());
  EXPECT_GT(checked, 0u) << Options::kOptimizer;
  EXPECT_NO_THROW(Options().validate(where)) << "the defaults break a rule";
}

TEST(Errors, EveryOptionRuleOfEveryOptimizer) {
#define FUSEDOPT_TEST_RULES(Class, Options) expect_every_rule_checked<Options>();
  FUSEDOPT_FOR_EACH_OPTIMIZER(FUSEDOPT_TEST_RULES)
#undef FUSEDOPT_TEST_RULES
}

// NOTE(slots): the numbers in declaration order, a pair as two, flags skipped.
TEST(Errors, SlotsAreTheNumbersInDeclarationOrder) {
  detail::GroupConfig config;
  detail::set_slots(config,
                    RpropOptions().lr(0.5).etas({0.25, 2.0}).step_sizes({1e-3, 7.0}).maximize(true));
  EXPECT_EQ((std::vector<double>(config.hyper.begin(), config.hyper.begin() + 6)),
            (std::vector<double>{0.5, 0.25, 2.0, 1e-3, 7.0, 0.0}));
  detail::set_slots(config, SGDOptions().lr(0.1).momentum(0.9).dampening(0.2).weight_decay(0.3));
  EXPECT_EQ((std::vector<double>(config.hyper.begin(), config.hyper.begin() + 4)),
            (std::vector<double>{0.1, 0.9, 0.2, 0.3}));
}

/// A failed call must leave the optimizer as it was: compare with an untouched twin.
TEST(Errors, FailedCallsLeaveTheOptimizerUnchanged) {
  Fixture a, b;
  Adam touched({a.pw()}, AdamOptions().lr(0.1));
  Adam twin({b.pw()}, AdamOptions().lr(0.1));
  touched.step();
  twin.step();

  expect_error([&] { touched.set_lr(0, -1.0); }, {"lr", "-1"});
  expect_error([&] { touched.set(0, "beta1", 1.5); }, {"beta1", "1.5"});
  expect_error([&] { touched.set(0, "momentum", 0.9); }, {"momentum", "not a numeric hyper-parameter of Adam"});
  expect_error([&] { touched.set(5, "lr", 0.1); }, {"group = 5", "out of range"});
  expect_error([&] { touched.set_options(0, AdamOptions().amsgrad(true)); },
               {"param_groups[0]", "state"});
  Param dup = a.pw();
  expect_error([&] { touched.add_param_group({{a.pb(), dup}, std::nullopt}); }, {"same parameter"});
  expect_error([&] { touched.add_param_group({{a.pb()}, AdamOptions().eps(-1)}); }, {"eps"});
  Param bad = a.pb();
  bad.grad.numel = 2;
  expect_error([&] { touched.add_param_group({{bad}, std::nullopt}); }, {"grad.numel"});

  EXPECT_EQ(touched.num_param_groups(), 1u);
  EXPECT_EQ(touched.lr(0), 0.1);
  EXPECT_EQ(touched.options(0).betas().first, 0.9);
  touched.step();
  twin.step();
  EXPECT_EQ(a.w.get(), b.w.get());
  EXPECT_EQ(touched.step_count(0, 0), 2.0);
  // The parameter rejected above is still free to join in a valid call.
  touched.add_param_group({{a.pb()}, std::nullopt});
  EXPECT_EQ(touched.num_param_groups(), 2u);
}

// Views are never dereferenced before validation, so a huge numel over a small buffer is safe
// to pass: it must be refused before any size arithmetic, allocation or plan entry.
TEST(Errors, HugeNumelIsRefusedBeforeAnyAllocation) {
  Fixture f;
  for (const std::int64_t numel :
       {std::int64_t(1) << 46, std::numeric_limits<std::int64_t>::max(), (std::int64_t(1) << 40) + 1}) {
    Param p = f.pw();
    p.value.numel = numel;
    p.grad.numel = numel;
    expect_error([&] { SGD opt({p}); }, {"params[0].value.numel", "2^40"});
    SGD opt({f.pb()});
    expect_error([&] { opt.add_param_group({{p}, std::nullopt}); }, {"param_groups[1]", "numel"});
    EXPECT_EQ(opt.num_param_groups(), 1u);
    expect_error([&] { AveragedModel avg(std::vector<TensorView>{p.value}); }, {"numel"});
  }
  // Each view within the limit, together beyond it (the sum would overflow int64 unchecked).
  std::vector<Param> many;
  for (int i = 0; i < 3; ++i) {
    Param p = f.pw();
    p.value.numel = p.grad.numel = std::int64_t(1) << 39;
    many.push_back(p);
  }
  // Disjoint fake addresses (never dereferenced: the check fails first).
  for (std::size_t i = 0; i < 3; ++i) {
    const std::uintptr_t base = (std::uintptr_t(1) << 44) * (i + 1);
    many[i].value.data = reinterpret_cast<void*>(base);
    many[i].grad.data = reinterpret_cast<void*>(base + (std::uintptr_t(1) << 42));
  }
  expect_error([&] { SGD opt(many); }, {"more than fusedopt's limit of 2^40 elements in all"});
}

// A state larger than the machine's physical memory is refused with an Error ("out of host
// memory"), not left to the OOM killer; the optimizer (or the construction) is unchanged.
TEST(Errors, StateBeyondPhysicalMemoryIsOutOfHostMemory) {
  Fixture f;
  Param huge = f.pw();
  huge.value.numel = huge.grad.numel = std::int64_t(1) << 39;  // 2 TiB of f32 momentum
  // Disjoint fake addresses, never dereferenced: the allocation fails first.
  huge.value.data = reinterpret_cast<void*>(std::uintptr_t(1) << 44);
  huge.grad.data = reinterpret_cast<void*>((std::uintptr_t(1) << 44) + (std::uintptr_t(1) << 42));
  expect_error(
      [&] {
        SGD opt({huge}, SGDOptions().momentum(0.9));
        opt.step();
      },
      {"out of host memory"});
  SGD opt({f.pb()}, SGDOptions().momentum(0.9));
  expect_error([&] { opt.add_param_group({{huge}, std::nullopt}); }, {"out of host memory"});
  EXPECT_EQ(opt.num_param_groups(), 1u);
}

TEST(Errors, GradientThatIsAnotherParameterIsRefused) {
  Fixture f;
  // Parameter b's gradient is parameter w's value: zero_grad() would zero w.
  Param pb = f.pb();
  pb.grad = f.w.view();
  pb.grad.numel = 3;
  expect_error([&] { SGD opt({f.pw(), pb}); },
               {"param_groups[0].params[1].grad overlaps param_groups[0].params[0].value"});
  // Overlapping part of it, from the middle.
  pb.grad.data = static_cast<float*>(f.w.view().data) + 5;
  expect_error([&] { SGD opt({f.pw(), pb}); }, {"params[1].grad overlaps", "params[0].value"});
  // Its own value.
  Param self = f.pw();
  self.grad = self.value;
  expect_error([&] { SGD opt({self}); }, {"params[0].grad overlaps param_groups[0].params[0].value"});
  // Across groups and add_param_group, either way round.
  SGD opt({f.pw()});
  expect_error([&] { opt.add_param_group({{pb}, std::nullopt}); },
               {"param_groups[1].params[0].grad overlaps param_groups[0].params[0].value"});
  EXPECT_EQ(opt.num_param_groups(), 1u);
  Param over_grad = f.pb();
  over_grad.value = f.gw.view();  // a new parameter whose value is group 0's gradient
  over_grad.value.numel = 3;
  over_grad.grad = f.gb.view();
  expect_error([&] { opt.add_param_group({{over_grad}, std::nullopt}); },
               {"param_groups[0].params[0].grad overlaps param_groups[1].params[0].value"});
  EXPECT_EQ(opt.num_param_groups(), 1u);
  // Two parameters sharing one gradient stay allowed, as in torch.
  Param shared = f.pb();
  shared.grad = f.gw.view();
  shared.grad.numel = 3;
  EXPECT_NO_THROW(SGD({f.pw(), shared}));
}

}  // namespace
}  // namespace fusedopt::testing
