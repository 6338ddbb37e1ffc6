// The CUDA runtime as the library sees it: a broken installation is an error, never "no GPU";
// allocation without memory pools. (The kernels themselves: every other suite's _cuda cases.)
#include <gtest/gtest.h>

#include <cstring>

#include "host/engine/memory.hpp"
#include "test_util.hpp"

namespace fusedopt::testing {
namespace {

TEST(Cuda, BrokenInstallationIsAnErrorNotNoDevice) {
  detail::DeviceCountQuery ok;
  ok.ok = true;
  ok.count = 2;
  EXPECT_EQ(detail::interpret_device_count(ok), 2);

  detail::DeviceCountQuery no_device;
  no_device.no_device = true;
  no_device.driver_version = 13000;
  EXPECT_EQ(detail::interpret_device_count(no_device), 0);

  detail::DeviceCountQuery no_driver;  // cudaErrorInsufficientDriver with no driver at all
  no_driver.error = "cudaErrorInsufficientDriver: CUDA driver version is insufficient";
  no_driver.runtime_version = 13000;
  EXPECT_EQ(detail::interpret_device_count(no_driver), 0);

  detail::DeviceCountQuery mismatch = no_driver;  // a driver older than the runtime
  mismatch.driver_version = 12040;
  try {
    detail::interpret_device_count(mismatch);
    ADD_FAILURE() << "a driver/runtime mismatch was reported as no device";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const char* needle : {"unusable", "cudaErrorInsufficientDriver", "12040", "13000"})
      EXPECT_NE(message.find(needle), std::string::npos) << message;
  }
}

TEST(Cuda, DeviceCountOnThisMachine) {
  // Without CUDA support or without a GPU: 0. With a broken installation this throws, and
  // the failure names CUDA's error.
  const int count = cuda_device_count();
  EXPECT_GE(count, 0);
  EXPECT_EQ(cuda_available(), count > 0);
  if (gpu_required()) EXPECT_GT(count, 0) << "FUSEDOPT_REQUIRE_GPU=1 but no device is visible";
}

// Devices without memory pools get cudaMalloc/cudaFree: the same results, bit for bit.
TEST(Cuda, StepsWithoutMemoryPoolsMatch) {
  FUSEDOPT_SKIP_WITHOUT_DEVICE(Device::cuda(0));
  std::mt19937_64 rng(fresh_seed());
  const auto init = random_values(rng, 70000, 1.0, DType::f32);
  const auto grad = random_values(rng, 70000, 0.5, DType::f32);
  std::vector<std::vector<double>> results;
  for (bool pools : {true, false}) {
    detail::disable_memory_pools(!pools);
    GuardedTensor w(70000, DType::f32, Device::cuda(0)), g(70000, DType::f32, Device::cuda(0));
    w.set(init);
    g.set(grad);
    {
      AdamW opt({{w.view(), g.view()}}, AdamWOptions().lr(1e-2).amsgrad(true));
      opt.step();
      opt.set_impl(Impl::Foreach);  // a plan rebuild: buffers allocated and freed
      opt.step();
      opt.synchronize();
    }
    results.push_back(w.get());
    EXPECT_TRUE(w.guards_intact());
  }
  detail::disable_memory_pools(false);
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(double)), 0);
}

}  // namespace
}  // namespace fusedopt::testing
