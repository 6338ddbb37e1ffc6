#pragma once
// Host-callable entry points of the CUDA executor. Plain C++: host files compiled by the C++
// compiler include this; the definitions live in multi_tensor.cuh and are instantiated in the
// small per-optimizer, per-dtype .cu files.
#include "plan.h"

struct CUstream_st;

namespace fusedopt::kernels {

/// One fused launch: Op over every chunk of `segment`, then (last block) step counts += 1.
template <class Op, class T>
void launch_step(const PlanView& plan, const StepScalars& scalars, const Segment& segment,
                 CUstream_st* stream);

/// One launch writing zeros to every gradient of `segment`.
template <class T>
void launch_zero_grad(const PlanView& plan, const Segment& segment, CUstream_st* stream);

}  // namespace fusedopt::kernels
