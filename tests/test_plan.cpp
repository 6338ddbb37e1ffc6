// The plan's index arithmetic (64-bit, any length, tensors beyond 2^31 elements, checked
// without allocating them) and a step over 10,000 tensors.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/engine/plan.h"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

using kernels::kChunkSize;

/// Chunk ranges of one tensor, as the kernels compute them.
void expect_chunks_cover(std::int64_t numel) {
  SCOPED_TRACE("numel " + std::to_string(numel));
  kernels::TensorEntry tensor{};
  tensor.numel = numel;
  const std::int64_t count = kernels::chunk_count(numel);
  std::vector<kernels::ChunkEntry> chunks;
  for (std::int64_t c = 0; c < count; ++c) chunks.push_back({0, std::int32_t(c)});
  const kernels::PlanView plan{&tensor, chunks.data()};
  std::int64_t expected_begin = 0;
  for (std::int64_t c = 0; c < count; ++c) {
    const kernels::ChunkRange r = kernels::chunk_range(plan, c);
    ASSERT_EQ(r.tensor, 0);
    ASSERT_EQ(r.begin, expected_begin);
    ASSERT_LE(r.end - r.begin, kChunkSize);
    ASSERT_GE(r.end - r.begin, numel == 0 ? 0 : 1);
    expected_begin = r.end;
  }
  EXPECT_EQ(expected_begin, numel);
}

TEST(Plan, ChunkRangesCoverEveryLength) {
  for (std::int64_t n : std::vector<std::int64_t>{0, 1, 3, 4, 5, kChunkSize - 1, kChunkSize, kChunkSize + 1,
                         3 * kChunkSize + 7})
    expect_chunks_cover(n);
}

TEST(Plan, ChunkRangesBeyond2To31Elements) {
  const std::int64_t big = (std::int64_t(1) << 31) + 12345;  // past int32
  expect_chunks_cover(big);
  expect_chunks_cover((std::int64_t(1) << 34) + 3);  // 16 G elements, 262,145 chunks
  EXPECT_EQ(kernels::chunk_count(big), (big + kChunkSize - 1) / kChunkSize);
  // The last chunk's offset itself exceeds 2^31: computed in 64 bits.
  kernels::TensorEntry tensor{};
  tensor.numel = big;
  const kernels::ChunkEntry last{0, std::int32_t(kernels::chunk_count(big) - 1)};
  const kernels::ChunkRange r = kernels::chunk_range({&tensor, &last}, 0);
  EXPECT_GT(r.begin, std::int64_t(INT32_MAX));
  EXPECT_EQ(r.end, big);
}

class ManyTensors : public ::testing::TestWithParam<Executor> {};

TEST_P(ManyTensors, TenThousandTensorsInOneStep) {
  FUSEDOPT_USE_EXECUTOR(GetParam());
  const Device device = device_of(GetParam());
  constexpr int kTensors = 10000;
  std::mt19937_64 rng(fresh_seed());
  std::uniform_int_distribution<std::int64_t> length(0, 300);
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<std::vector<double>> p0, g0;
  std::vector<Param> params;
  for (int t = 0; t < kTensors; ++t) {
    const std::int64_t n = length(rng);
    values.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device, t % 3));
    grads.push_back(std::make_unique<GuardedTensor>(n, DType::f32, device, t % 3));
    p0.push_back(random_values(rng, n, 1.0, DType::f32));
    g0.push_back(random_values(rng, n, 1.0, DType::f32));
    values.back()->set(p0.back());
    grads.back()->set(g0.back());
    params.push_back({values.back()->view(), grads.back()->view()});
  }
  SGD opt(params, SGDOptions().lr(0.5));
  opt.step();
  for (int t = 0; t < kTensors; ++t) {
    const std::vector<double> got = values[std::size_t(t)]->get();
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], double(float(p0[std::size_t(t)][i]) - 0.5f * float(g0[std::size_t(t)][i])))
          << "tensor " << t << " element " << i;
    ASSERT_TRUE(values[std::size_t(t)]->guards_intact()) << "tensor " << t;
  }
  EXPECT_EQ(opt.step_count(0, kTensors - 1), 1.0);
  opt.zero_grad();
  for (int t = 0; t < kTensors; ++t) {
    for (double x : grads[std::size_t(t)]->get()) ASSERT_EQ(x, 0.0) << "tensor " << t;
    ASSERT_TRUE(grads[std::size_t(t)]->guards_intact()) << "gradient " << t;
  }
}

std::string executor_name(const ::testing::TestParamInfo<Executor>& info) {
  return to_string(info.param);
}
INSTANTIATE_TEST_SUITE_P(Executors, ManyTensors, ::testing::ValuesIn(native_executors()),
                         executor_name);
INSTANTIATE_TEST_SUITE_P(Emulated, ManyTensors, ::testing::Values(Executor::emulated),
                         executor_name);

}  // namespace
}  // namespace fusedopt::testing
