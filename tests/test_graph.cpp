// A whole optimizer step captured once in a CUDA graph and replayed while the learning rate
// moves must match the uncaptured trajectory bit for bit: step counts, bias corrections and
// hyper-parameters are all read from device memory, so the graph stays valid.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "test_util.hpp"

#if FUSEDOPT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace fusedopt::testing {
namespace {

#if FUSEDOPT_WITH_CUDA
#define CHECK_CUDA(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

/// Two identical parameter sets: one stepped normally, one through the captured graph.
struct Model {
  std::vector<std::unique_ptr<GuardedTensor>> values, grads;
  std::vector<Param> group0, group1;
  Model(const std::vector<std::vector<double>>& init, const std::vector<DType>& dtypes) {
    for (std::size_t i = 0; i < init.size(); ++i) {
      const auto n = std::int64_t(init[i].size());
      values.push_back(std::make_unique<GuardedTensor>(n, dtypes[i], Device::cuda(0)));
      grads.push_back(std::make_unique<GuardedTensor>(n, dtypes[i], Device::cuda(0)));
      values.back()->set(init[i]);
      (i % 2 ? group1 : group0).push_back({values.back()->view(), grads.back()->view()});
    }
  }
};

TEST(Graph, CapturedStepReplaysBitForBitWhileTheLrMoves) {
  FUSEDOPT_SKIP_WITHOUT_DEVICE(Device::cuda(0));
  std::mt19937_64 rng(fresh_seed());
  const std::vector<std::int64_t> lengths = {1, 1000, 65539, 7, 2 * 65536 + 1};
  const std::vector<DType> dtypes = {DType::f32, DType::bf16, DType::f32, DType::f16, DType::f32};
  std::vector<std::vector<double>> init;
  for (std::size_t i = 0; i < lengths.size(); ++i)
    init.push_back(random_values(rng, lengths[i], 1.0, dtypes[i]));
  Model eager(init, dtypes), graphed(init, dtypes);

  const auto options = AdamWOptions().lr(1e-2).amsgrad(true);
  AdamW eager_opt({{eager.group0}, {eager.group1, AdamWOptions().lr(5e-3)}}, options);
  AdamW graph_opt({{graphed.group0}, {graphed.group1, AdamWOptions().lr(5e-3)}}, options);
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  eager_opt.set_stream(stream);
  graph_opt.set_stream(stream);

  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  graph_opt.step();
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));

  constexpr int kSteps = 50;
  // The schedule moves the lr between replays through device-scalar writes.
  CosineAnnealingLR eager_schedule(eager_opt, /*T_max=*/kSteps, /*eta_min=*/1e-4);
  CosineAnnealingLR graph_schedule(graph_opt, /*T_max=*/kSteps, /*eta_min=*/1e-4);
  for (int step = 0; step < kSteps; ++step) {
    // The uploads below use the legacy stream, which does not wait for `stream`: let the last
    // step finish reading the gradients first (GuardedTensor::set then waits for its copy).
    CHECK_CUDA(cudaStreamSynchronize(stream));
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      const auto g = random_values(rng, lengths[i], 0.5, dtypes[i]);
      eager.grads[i]->set(g);
      graphed.grads[i]->set(g);
    }
    eager_opt.step();
    CHECK_CUDA(cudaGraphLaunch(exec, stream));
    eager_schedule.step();
    graph_schedule.step();
    ASSERT_EQ(graph_opt.lr(1), eager_opt.lr(1));
  }
  CHECK_CUDA(cudaStreamSynchronize(stream));
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const auto a = eager.values[i]->get();
    const auto b = graphed.values[i]->get();
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0) << "tensor " << i;
  }
  for (std::size_t group = 0; group < 2; ++group)
    for (std::size_t i = 0; i < eager_opt.params(group).size(); ++i) {
      EXPECT_EQ(graph_opt.step_count(group, i), double(kSteps));
      for (const std::string& name : eager_opt.state_names(group))
        EXPECT_EQ(eager_opt.state(group, i, name), graph_opt.state(group, i, name)) << name;
    }
  CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaGraphDestroy(graph));
  eager_opt.set_stream(nullptr);
  graph_opt.set_stream(nullptr);
  CHECK_CUDA(cudaStreamDestroy(stream));
}
// NOTE(capture): while the stream captures, step() and zero_grad() are recorded; every call
// that would copy, allocate or synchronize throws Error and changes nothing, and the capture
// stays valid.
TEST(Graph, OnlyCaptureSafeCallsRunWhileCapturing) {
  FUSEDOPT_SKIP_WITHOUT_DEVICE(Device::cuda(0));
  GuardedTensor w(1000, DType::f32, Device::cuda(0)), g(1000, DType::f32, Device::cuda(0));
  w.set(std::vector<double>(1000, 1.0));
  g.set(std::vector<double>(1000, 0.5));
  AdamW opt({{w.view(), g.view()}}, AdamWOptions().lr(1e-2));
  CosineAnnealingLR schedule(opt, /*T_max=*/10);
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  opt.set_stream(stream);

  cudaGraph_t graph = nullptr;
  CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  opt.step();
  const auto expect_refused = [](const std::function<void()>& call, const char* what) {
    try {
      call();
      ADD_FAILURE() << what << " ran while the stream was capturing";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("capturing a CUDA graph"), std::string::npos)
          << what << ": " << e.what();
    }
  };
  expect_refused([&] { opt.set_lr(0, 0.5); }, "set_lr");
  expect_refused([&] { schedule.step(); }, "LRScheduler::step");
  expect_refused([&] { opt.set_impl(Impl::Loop); }, "set_impl");
  expect_refused([&] { (void)opt.state_dict(); }, "state_dict");
  expect_refused([&] { (void)opt.step_count(0, 0); }, "step_count");
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CHECK_CUDA(cudaStreamIsCapturing(stream, &capture));
  EXPECT_EQ(capture, cudaStreamCaptureStatusActive) << "a refused call broke the capture";
  CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  EXPECT_EQ(opt.lr(0), 1e-2);
  EXPECT_EQ(schedule.last_epoch(), 0);
  EXPECT_EQ(opt.impl(), Impl::Fused);

  cudaGraphExec_t exec = nullptr;
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  CHECK_CUDA(cudaGraphLaunch(exec, stream));
  CHECK_CUDA(cudaStreamSynchronize(stream));
  EXPECT_EQ(opt.step_count(0, 0), 1.0);
  CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaGraphDestroy(graph));
  opt.set_stream(nullptr);
  CHECK_CUDA(cudaStreamDestroy(stream));
}
#else
TEST(Graph, CapturedStepReplaysBitForBitWhileTheLrMoves) {
  if (gpu_required()) FAIL() << "FUSEDOPT_REQUIRE_GPU=1 but fusedopt was built without CUDA";
  GTEST_SKIP() << "fusedopt was built without CUDA: CUDA graph capture is not exercised";
}
#endif

}  // namespace
}  // namespace fusedopt::testing
