#pragma once
// Host-callable entry points of the gradient utilities' CUDA kernels. Plain C++: host files
// include this; the definitions live in kernels/grad/kernels.cuh and are instantiated in
// kernels/instances/grad_utils_*.cu.
#include <cstdint>

#include "kernels/grad/grad_norm.h"
#include "kernels/grad/grad_ops.h"
#include "kernels/grad/grad_plan.h"

struct CUstream_st;

namespace fusedopt::kernels::amp {

/// NOTE(grad-norm) step 1 over chunks [chunk_begin, chunk_end) of one dtype segment.
template <NormKind K, class T>
void launch_norm_chunks(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                        const NormArgs& args, CUstream_st* stream);
/// NOTE(grad-norm) step 2: one block.
template <NormKind K>
void launch_norm_finish(const GradPlan& plan, const NormArgs& args, CUstream_st* stream);
/// Gradients of chunks [chunk_begin, chunk_end) times clip_coefficient(*total_norm, max_norm).
template <class T>
void launch_scale(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                  const float* total_norm, float max_norm, CUstream_st* stream);
template <class T>
void launch_clamp(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end, float lo,
                  float hi, CUstream_st* stream);
template <class T>
void launch_check_unscale(const GradPlan& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                          const UnscaleArgs& args, CUstream_st* stream);
/// torch's _amp_update_scale_: one thread.
void launch_update_scale(float* scale, std::int32_t* growth_tracker, const float* found_inf,
                         double growth_factor, double backoff_factor, std::int32_t growth_interval,
                         CUstream_st* stream);
/// GradScaler.update(): one thread.
void launch_scaler_update(ScalerState* state, const ScalerUpdateArgs& args, CUstream_st* stream);

}  // namespace fusedopt::kernels::amp
