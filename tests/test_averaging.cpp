// AveragedModel (torch.optim.swa_utils semantics) against the reference: EMA and SWA, every
// dtype, both executors, every Impl, the chunking's edge lengths, guard zones, n_averaged, set_decay.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "reference/more.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

struct AveragingCase {
  bool ema;
  DType dtype;
  Executor executor;
  Impl impl;
};

std::string averaging_name(const ::testing::TestParamInfo<AveragingCase>& info) {
  const AveragingCase& c = info.param;
  return std::string(c.ema ? "EMA_" : "SWA_") + to_string(c.dtype) + "_" + to_string(c.impl) +
         "_" + to_string(c.executor);
}

class Averaging : public ::testing::TestWithParam<AveragingCase> {};

TEST_P(Averaging, MatchesReferenceOver20Updates) {
  const AveragingCase c = GetParam();
  FUSEDOPT_USE_EXECUTOR(c.executor);
  const Device device = device_of(c.executor);
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::int64_t> lengths = {0, 1, 5, 1000, 65539, 2 * 65536 + 1};
  std::vector<std::unique_ptr<GuardedTensor>> params;
  std::vector<Param> views;
  std::vector<reference::AveragingState> refs(lengths.size());
  // Normwise scale: the largest |value| a tensor's inputs or average took so far (the rounding
  // error of avg + w * (p - avg) is relative to those, not to an average near zero).
  std::vector<double> scales(lengths.size(), 1e-30);
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    params.push_back(std::make_unique<GuardedTensor>(lengths[i], c.dtype, device, int(i % 2)));
    params.back()->set(random_values(rng, lengths[i], 1.0, c.dtype));
    views.push_back({params.back()->view(), params.back()->view()});
  }
  const double decay = 0.75;
  AveragedModel model(views, c.ema ? ema_decay(decay) : swa_average());
  model.set_impl(c.impl);
  ASSERT_EQ(model.impl(), c.impl);
  // Before any update the copies equal the parameters (torch deep-copies the model).
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    EXPECT_EQ(model.averaged()[i].dtype, c.dtype);
    EXPECT_NE(model.averaged()[i].data, views[i].value.data);
  }
  const reference::AveragingConfig config{c.ema, decay};
  const double rtol = c.dtype == DType::f32 ? 1e-6 : c.dtype == DType::f16 ? 2e-3 : 1.6e-2;
  for (int update = 1; update <= 20; ++update) {
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      const auto values = random_values(rng, lengths[i], 1.0, c.dtype);
      params[i]->set(values);
      reference::averaging_update(config, values, refs[i]);
      for (double& x : refs[i].averaged) x = round_to(c.dtype, x);  // NOTE(storage-rounding)
      for (double x : values) scales[i] = std::max(scales[i], std::abs(x));
    }
    model.update();
    EXPECT_EQ(model.n_averaged(), update);
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      const TensorView v = model.averaged()[i];  // library-owned memory
      std::vector<unsigned char> host(std::size_t(v.numel) * dtype_size(v.dtype));
      copy_view_to_host(v, host.data());
      std::vector<double> got;
      for (std::int64_t k = 0; k < v.numel; ++k)
        got.push_back(decode(v.dtype, host.data() + std::size_t(k) * dtype_size(v.dtype)));
      const double scale = scales[i];
      for (std::size_t k = 0; k < got.size(); ++k)
        ASSERT_LE(std::abs(got[k] - refs[i].averaged[k]), rtol * scale)
            << "update " << update << " tensor " << i << " element " << k;
      ASSERT_TRUE(params[i]->guards_intact());
    }
  }
}

std::vector<AveragingCase> averaging_cases(const std::vector<Executor>& executors) {
  std::vector<AveragingCase> cases;
  for (Executor executor : executors)
    for (DType dtype : {DType::f32, DType::f16, DType::bf16})
      for (bool ema : {true, false})
        for (Impl impl : {Impl::Loop, Impl::Foreach, Impl::Fused})
          cases.push_back({ema, dtype, executor, impl});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Modes, Averaging, ::testing::ValuesIn(averaging_cases(native_executors())),
                         averaging_name);
INSTANTIATE_TEST_SUITE_P(Emulated, Averaging,
                         ::testing::ValuesIn(averaging_cases({Executor::emulated})), averaging_name);

TEST(Averaging, EmaDecayIsADeviceScalarAndValidated) {
  GuardedTensor w(3, DType::f32, Device::cpu());
  w.set({0, 0, 0});
  AveragedModel ema(std::vector<TensorView>{w.view()}, ema_decay(0.5));
  ema.update();  // copies: 0
  w.set({1, 1, 1});
  ema.set_decay(0.25);
  ema.update();  // 0.25 * 0 + 0.75 * 1
  std::vector<float> got(3);
  copy_view_to_host(ema.averaged()[0], got.data());
  EXPECT_EQ(got[0], 0.75f);
  EXPECT_THROW(ema.set_decay(1.5), Error);
  EXPECT_EQ(ema.mode().decay, 0.25);
  AveragedModel swa(std::vector<TensorView>{w.view()});
  EXPECT_THROW(swa.set_decay(0.5), Error);
  EXPECT_THROW(AveragedModel(std::vector<TensorView>{}), Error);
  EXPECT_THROW(AveragedModel(std::vector<TensorView>{w.view()}, ema_decay(-0.1)), Error);
  TensorView null = w.view();
  null.data = nullptr;
  EXPECT_THROW(AveragedModel(std::vector<TensorView>{null}), Error);
}

// n_averaged is a double on the device (torch keeps an int64): past 2^24 updates, where an fp32
// count stops, SWA still counts and averages with weight 1 / (n + 1).
TEST(Averaging, SwaCountsPast2To24) {
  for (Executor executor : {Executor::cpu, Executor::emulated}) {
    FUSEDOPT_USE_EXECUTOR(executor);
    GuardedTensor w(3, DType::f32, Device::cpu());
    w.set({0, 0, 0});
    AveragedModel swa(std::vector<TensorView>{w.view()});
    AveragedState state = swa.state_dict();  // every average 0
    // 2^24 + 1 is where an fp32 count stops (it rounds to 2^24, and 2^24 + 1 to 2^24 again):
    // a stuck count, or one rounded once, gives a weight 1 / 2^24 or 1 / (2^24 + 1), each a
    // different float from 1 / (2^24 + 2), and a different product below.
    const std::int64_t n = (std::int64_t(1) << 24) + 1;
    state.n_averaged = n;
    swa.load_state_dict(state);
    EXPECT_EQ(swa.n_averaged(), n);
    const std::vector<double> p = {33554432.0, -16777216.0, 25165824.0};  // 2^25, -2^24, 3 * 2^23
    w.set(p);
    swa.update();
    EXPECT_EQ(swa.n_averaged(), n + 1);
    std::vector<float> got(3);
    copy_view_to_host(swa.averaged()[0], got.data());
    const float weight = float(1.0 / double(n + 1));
    for (std::size_t k = 0; k < p.size(); ++k) {
      // averaged (0) + weight * (p - 0), in fp32: the bits exactly.
      const float expected = weight * float(p[k]);  // about 2, -1, 1.5
      ASSERT_NE(expected, float(1.0 / 16777216.0) * float(p[k])) << "the test cannot fail";
      EXPECT_EQ(got[k], expected) << "element " << k;
    }
    swa.update();
    EXPECT_EQ(swa.n_averaged(), n + 2);

    // Counts up to 2^53 (exact in a double) load, and survive a file.
    const std::int64_t max = std::int64_t(1) << 53;
    state.n_averaged = max + 1;
    EXPECT_THROW(swa.load_state_dict(state), Error);
    EXPECT_EQ(swa.n_averaged(), n + 2);
    state.n_averaged = max;
    swa.load_state_dict(state);
    EXPECT_EQ(swa.n_averaged(), max);
    const std::string path = ::testing::TempDir() + "fusedopt_swa_count_" +
                             std::to_string(::getpid()) + ".safetensors";
    swa.save(path);
    AveragedModel loaded(std::vector<TensorView>{w.view()});
    loaded.load(path);
    std::remove(path.c_str());
    EXPECT_EQ(loaded.n_averaged(), max);
  }
}

}  // namespace
}  // namespace fusedopt::testing
