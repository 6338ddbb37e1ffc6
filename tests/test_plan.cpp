// The plan's index arithmetic (64-bit, any length, tensors beyond 2^31 elements, checked
// without allocating them), a step over 10,000 tensors, and per-tensor completion
// (NOTE(step-count)) over tensors of different chunk counts in no size order (NOTE(plan-order)).
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "host/engine/dispatch.hpp"
#include "host/engine/engine.hpp"
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

// The CPU executor hands out 4 chunks at a time only where every thread still gets some: a
// 2-chunk step on 2 threads is split, one chunk each.
TEST(Plan, ChunksPerGrabLeavesNoThreadIdle) {
  using fusedopt::detail::chunks_per_grab;
  EXPECT_EQ(chunks_per_grab(1, 2), 1);
  EXPECT_EQ(chunks_per_grab(2, 2), 1);
  EXPECT_EQ(chunks_per_grab(8, 2), 2);
  EXPECT_EQ(chunks_per_grab(12, 2), 3);
  EXPECT_EQ(chunks_per_grab(16, 2), 4);
  EXPECT_EQ(chunks_per_grab(2048, 2), 4);
  EXPECT_EQ(chunks_per_grab(2048, 0), 4);
  EXPECT_EQ(chunks_per_grab(0, 16), 1);
  EXPECT_EQ(chunks_per_grab(100, 16), 3);
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
  // The CPU executor at 1, 2 and 8 threads (each step from the same values and gradients).
  std::vector<int> thread_counts = {1};
  if (GetParam() == Executor::cpu && UseThreads::available())
    thread_counts.insert(thread_counts.end(), std::begin(kThreadCounts), std::end(kThreadCounts));
  for (const int threads : thread_counts) {
    SCOPED_TRACE(std::to_string(threads) + " thread(s)");
    const UseThreads use(threads);
    for (int t = 0; t < kTensors; ++t) {
      values[std::size_t(t)]->set(p0[std::size_t(t)]);
      grads[std::size_t(t)]->set(g0[std::size_t(t)]);
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
}

std::string executor_name(const ::testing::TestParamInfo<Executor>& info) {
  return to_string(info.param);
}
INSTANTIATE_TEST_SUITE_P(Executors, ManyTensors, ::testing::ValuesIn(native_executors()),
                         executor_name);
INSTANTIATE_TEST_SUITE_P(Emulated, ManyTensors, ::testing::Values(Executor::emulated),
                         executor_name);

// ---- Plan order (NOTE(plan-order)) ---------------------------------------------------------
// A segment's chunks come largest tensor first (ties in parameter order), each tensor's chunks
// consecutive and in order; the tensors and their TensorInfo stay in parameter order, and each
// TensorInfo's chunk range points at that tensor's chunks (Impl::Loop launches them).
TEST(PlanOrder, LargestTensorsChunksFirst) {
  const std::vector<std::int64_t> sizes = {5, 3 * kChunkSize + 1, 0, kChunkSize, 2 * kChunkSize, 7, 5};
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<Param> params;
  for (std::int64_t n : sizes) {
    values.push_back(std::make_unique<GuardedTensor>(n, DType::f32, Device::cpu()));
    grads.push_back(std::make_unique<GuardedTensor>(n, DType::f32, Device::cpu()));
    params.push_back({values.back()->view(), grads.back()->view()});
  }
  detail::Engine engine;
  engine.add_groups({params}, {detail::GroupConfig{}});
  ASSERT_EQ(engine.segments().size(), 1u);
  const detail::SegmentLaunch& s = engine.segments()[0];
  std::vector<std::int32_t> order;  // tensors in chunk order
  std::int32_t next_chunk = 0;
  for (std::int64_t c = s.segment.chunk_begin; c < s.segment.chunk_end; ++c) {
    const kernels::ChunkEntry e = s.plan.chunks[c];
    if (order.empty() || order.back() != e.tensor) {
      order.push_back(e.tensor);
      next_chunk = 0;
    }
    EXPECT_EQ(e.chunk, next_chunk++) << "chunk " << c;
  }
  EXPECT_EQ(order, (std::vector<std::int32_t>{1, 4, 3, 5, 0, 6, 2}));
  ASSERT_EQ(s.tensors.size(), sizes.size());
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    const detail::TensorInfo& info = s.tensors[t];
    EXPECT_EQ(info.numel, sizes[t]);
    EXPECT_EQ(s.plan.tensors[s.segment.tensor_begin + std::int32_t(t)].numel, sizes[t]);
    EXPECT_EQ(info.chunk_end - info.chunk_begin, kernels::chunk_count(sizes[t]));
    for (std::int64_t c = info.chunk_begin; c < info.chunk_end; ++c)
      EXPECT_EQ(s.plan.chunks[c].tensor, s.segment.tensor_begin + std::int32_t(t));
  }
}

// ---- Per-tensor completion (NOTE(step-count)) ------------------------------------------------
// Two groups of tensors owning 0 to 4 chunks, in no size order (the plan reorders their chunks,
// NOTE(plan-order)); AMP scaling from step 1 on (the kUnscale kernels), a found_inf step that
// changes nothing, and a parameter frozen for two steps. After every step each tensor's step
// count is what it took, so every arrival counter was back at zero; at the end the emulated
// device's parameters, state and step counts equal the CPU executor's bit for bit.

struct CompletionRun {
  std::vector<std::vector<double>> values;
  std::vector<std::vector<std::vector<float>>> states;
  std::vector<double> steps;
};

constexpr int kCompletionSteps = 6;
bool completion_skipped(int step) { return step == 3; }            // found_inf = 1
bool completion_frozen(int step) { return step == 2 || step == 3; }  // parameter (0, 1)

template <class Make>
CompletionRun run_completion(Executor executor, Impl impl, DType dtype, std::uint64_t seed,
                             const Make& make) {
  const UseExecutor use(executor);
  SCOPED_TRACE(use.description());
  const Device device = device_of(executor);
  const std::vector<std::vector<std::int64_t>> sizes = {
      {5, 3 * kChunkSize + 17, 0, kChunkSize}, {kChunkSize + 1, 2 * kChunkSize, 1000, 8}};
  std::mt19937_64 rng(seed);
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<std::vector<Param>> groups(sizes.size());
  for (std::size_t g = 0; g < sizes.size(); ++g)
    for (std::int64_t n : sizes[g]) {
      values.push_back(std::make_unique<GuardedTensor>(n, dtype, device));
      grads.push_back(std::make_unique<GuardedTensor>(n, dtype, device));
      values.back()->set(random_values(rng, n, 1.0, dtype));
      groups[g].push_back({values.back()->view(), grads.back()->view()});
    }
  const std::unique_ptr<Optimizer> opt = make(groups);
  opt->set_impl(impl);
  GuardedTensor grad_scale(1, DType::f32, device), found_inf(1, DType::f32, device);
  grad_scale.set({4.0});
  std::vector<double> expected(values.size(), 0.0);
  for (int step = 0; step < kCompletionSteps; ++step) {
    for (const auto& grad : grads) grad->set(random_values(rng, grad->numel(), 2.0, dtype));
    if (step == 1)
      opt->set_grad_scaling(static_cast<const float*>(grad_scale.view().data),
                            static_cast<const float*>(found_inf.view().data));
    found_inf.set({completion_skipped(step) ? 1.0 : 0.0});
    opt->set_param_enabled(0, 1, !completion_frozen(step));
    opt->step();
    std::size_t t = 0;
    for (std::size_t g = 0; g < sizes.size(); ++g)
      for (std::size_t i = 0; i < sizes[g].size(); ++i, ++t) {
        if (!completion_skipped(step) && !(g == 0 && i == 1 && completion_frozen(step)))
          expected[t] += 1.0;
        EXPECT_EQ(opt->step_count(g, i), expected[t])
            << "step " << step << ", group " << g << ", tensor " << i << " of " << sizes[g][i];
      }
  }
  EXPECT_EQ(expected[1], double(kCompletionSteps - 2));
  CompletionRun out;
  std::size_t t = 0;
  for (std::size_t g = 0; g < sizes.size(); ++g)
    for (std::size_t i = 0; i < sizes[g].size(); ++i, ++t) {
      out.values.push_back(values[t]->get());
      out.states.emplace_back();
      for (const std::string& name : opt->state_names(g)) out.states.back().push_back(opt->state(g, i, name));
      out.steps.push_back(opt->step_count(g, i));
      EXPECT_TRUE(values[t]->guards_intact()) << "tensor " << t;
    }
  return out;
}

class PerTensorCompletion : public ::testing::TestWithParam<std::tuple<Impl, DType>> {};

TEST_P(PerTensorCompletion, StepCountsPerTensorAndTheCpuExecutorsBits) {
  const Impl impl = std::get<0>(GetParam());
  const DType dtype = std::get<1>(GetParam());
  const std::uint64_t seed = fresh_seed();
  const auto adam = [](const std::vector<std::vector<Param>>& groups) {
    return std::unique_ptr<Optimizer>(new Adam(
        {{groups[0]}, {groups[1], AdamOptions().lr(1e-2).amsgrad(true)}}, AdamOptions().lr(1e-3)));
  };
  const auto sgd = [](const std::vector<std::vector<Param>>& groups) {  // two vectors in flight
    return std::unique_ptr<Optimizer>(new SGD(
        {{groups[0]}, {groups[1], SGDOptions().lr(0.05)}}, SGDOptions().lr(0.1).momentum(0.9)));
  };
  const auto adagrad = [](const std::vector<std::vector<Param>>& groups) {
    return std::unique_ptr<Optimizer>(new Adagrad({{groups[0]}, {groups[1]}}, AdagradOptions().lr(0.1)));
  };
  const auto check = [&](const char* name, const auto& make) {
    SCOPED_TRACE(name);
    const CompletionRun emulated = run_completion(Executor::emulated, impl, dtype, seed, make);
    const CompletionRun cpu = run_completion(Executor::cpu, impl, dtype, seed, make);
    EXPECT_EQ(emulated.steps, cpu.steps);
    for (std::size_t t = 0; t < cpu.values.size(); ++t) {
      EXPECT_TRUE(emulated.values[t] == cpu.values[t]) << "tensor " << t << " values differ";
      EXPECT_TRUE(emulated.states[t] == cpu.states[t]) << "tensor " << t << " state differs";
    }
  };
  check("Adam", adam);
  check("SGD", sgd);
  check("Adagrad", adagrad);
}

std::string completion_name(const ::testing::TestParamInfo<PerTensorCompletion::ParamType>& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" + to_string(std::get<1>(info.param));
}
INSTANTIATE_TEST_SUITE_P(Emulated, PerTensorCompletion,
                         ::testing::Combine(::testing::Values(Impl::Fused, Impl::Foreach),
                                            ::testing::Values(DType::f32, DType::bf16)),
                         completion_name);

}  // namespace
}  // namespace fusedopt::testing
