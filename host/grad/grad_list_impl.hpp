#pragma once
#include <memory>
// GradList's internals (NOTE(grad-list) in include/fusedopt/grad_utils.hpp) and the executors of
// the gradient utilities' kernels: the CPU executor, the emulated device and CUDA.
#include <cstdint>
#include <vector>

#include "fusedopt/grad_utils.hpp"
#include "host/engine/memory.hpp"
#include "kernels/grad/grad_norm.h"
#include "kernels/grad/grad_ops.h"
#include "kernels/grad/grad_plan.h"

namespace fusedopt::detail {

/// One dtype's chunks of the plan (NOTE(grad-plan)).
struct GradSegment {
  DType dtype;
  std::int64_t chunk_begin;
  std::int64_t chunk_end;
};

struct GradListImpl {
  std::vector<TensorView> views;
  Device device = Device::cpu();
  Stream stream = nullptr;
  Buffer tables;   // GradTensor[], then ChunkEntry[]
  Buffer scratch;  // chunk partials, tensor values, tensor norms, total norm (floats)
  kernels::amp::GradPlan plan{};
  std::vector<GradSegment> segments;
  std::uint64_t id = 0;  // unique per list, for GradScaler's per-list flags
  /// Expires with the list: a GradScaler reuses the flag of a list that no longer exists.
  std::shared_ptr<const int> alive = std::make_shared<const int>(0);
};

struct GradListAccess {
  static GradListImpl& impl(GradList& list) { return *list.impl_; }
  static const GradListImpl& impl(const GradList& list) { return *list.impl_; }
};

// The executors (host/grad/executor.cpp). Each runs on the list's device: the CPU executor, or
// the emulated device while it is on (tests), or the CUDA kernels.
/// NOTE(grad-norm): the chunk launches (one per dtype segment), then the finish launch.
void run_norm(const GradListImpl& list, kernels::amp::NormKind kind,
              const kernels::amp::NormArgs& args);
void run_scale(const GradListImpl& list, const float* total_norm, float max_norm);
void run_clamp(const GradListImpl& list, float lo, float hi);
void run_check_unscale(const GradListImpl& list, const kernels::amp::UnscaleArgs& args);
void run_update_scale(Device device, Stream stream, float* scale, std::int32_t* growth_tracker,
                      const float* found_inf, double growth_factor, double backoff_factor,
                      std::int32_t growth_interval);
void run_scaler_update(Device device, Stream stream, kernels::amp::ScalerState* state,
                       const kernels::amp::ScalerUpdateArgs& args);

}  // namespace fusedopt::detail
