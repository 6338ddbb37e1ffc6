#pragma once
// Host-callable entry points of the CUDA executor. Plain C++: host files compiled by the C++
// compiler include this; the definitions live in multi_tensor.cuh and are instantiated in the
// small per-optimizer, per-dtype .cu files.
#include <cstdint>

#include "kernels/engine/plan.h"

struct CUstream_st;

namespace fusedopt::kernels {

/// One fused launch: Op over every chunk of `segment`; the block that completes the last chunk
/// of a tensor advances its step count (NOTE(step-count) in multi_tensor.cuh).
/// `stochastic`: some group of the segment rounds stochastically (NOTE(stochastic-rounding));
/// `grad_factors`: the kernel applies GradFactors (SegmentLaunch::applies_grad_factors).
template <class Op, class T>
void launch_step(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                 bool stochastic, bool grad_factors, CUstream_st* stream);

/// Impl::Loop / Impl::Foreach: pass `pass` of Op over chunks [chunk_begin, chunk_end).
template <class Op, class T>
void launch_pass(const PlanView& plan, const StepScalars& scalars, std::int64_t chunk_begin,
                 std::int64_t chunk_end, int pass, bool stochastic, CUstream_st* stream);

/// Impl::Loop / Impl::Foreach, after the last pass: step counts of `segment` += 1.
template <class Op>
void launch_finish(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                   CUstream_st* stream);

/// Zeros for the gradients of chunks [chunk_begin, chunk_end): a segment, or (Impl::Loop) one
/// tensor.
template <class T>
void launch_zero_grad_range(const PlanView& plan, std::int64_t chunk_begin, std::int64_t chunk_end,
                            CUstream_st* stream);

/// NOTE(master-weights): the fp32 masters of chunks [chunk_begin, chunk_end) of a master
/// segment set from their T parameters.
template <class T>
void launch_master_from_model(const PlanView& plan, std::int64_t chunk_begin,
                              std::int64_t chunk_end, CUstream_st* stream);

}  // namespace fusedopt::kernels
