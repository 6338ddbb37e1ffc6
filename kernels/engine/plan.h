#pragma once
// The launch plan as the kernels see it: plain structs in device (or host) memory.
//
// NOTE(plan): the host builds the plan once per parameter-set change (host/engine/engine.cpp). Tensors
// are grouped into segments by storage dtype; within a segment every tensor owns
// max(1, ceil(numel / kChunkSize)) consecutive chunks, and one CUDA block (or CPU task) updates
// one chunk. A tensor with zero elements still owns one empty chunk so that its step count
// advances like every other parameter's, as in torch.
//
// NOTE(plan-order): within a segment the tensors' chunk runs are ordered by size, largest
// first (ties in parameter order), so that a fused launch starts its longest work first and ends
// on small tensors rather than on a tail of one big tensor's chunks. Each tensor's chunks stay
// consecutive (Impl::Loop launches them per tensor). Nothing else depends on the order: state,
// step counts and checkpoints are indexed by parameter, and no result depends on which block
// runs first.
#include <cstdint>
#include <type_traits>

#include "kernels/engine/det_math.h"
#include "kernels/engine/config.h"

namespace fusedopt::kernels {

/// One parameter: its lists (0 = param, 1 = grad, 2.. = optimizer state), its size and where
/// its scalars live.
struct TensorEntry {
  void* lists[kMaxLists];  // NOTE(master-weights): lists[0] is the fp32 master when there is one
  void* model;             // the parameter itself when lists[0] is its master, else nullptr
  std::int64_t numel;
  std::int32_t group;  // index into StepScalars::groups
  std::int32_t param;  // index into StepScalars::steps
};

/// Block -> (tensor, chunk of that tensor).
struct ChunkEntry {
  std::int32_t tensor;
  std::int32_t chunk;
};

/// Per-group hyper-parameters in slots (each functor names its slots) plus mode flags.
/// Doubles: derived per-step constants (bias corrections) are computed in double once per block.
struct GroupScalars {
  double hyper[kMaxHyper];
  std::uint32_t flags;    // the functor's Flag bits: each value selects a compiled body
  std::uint32_t modes;    // GroupMode bits: read at run time by every body
  std::uint32_t seed[2];  // NOTE(stochastic-rounding): the Philox key
};

/// GroupScalars::modes.
enum GroupMode : std::uint32_t {
  kStochasticRounding = 1,  // NOTE(stochastic-rounding)
  kMaximize = 2,            // NOTE(maximize)
};

/// The device scalars a step reads by pointer (NOTE(device-scalars) in host/engine/engine.hpp).
struct StepScalars {
  const GroupScalars* groups;
  float* steps;                // per parameter, torch's state["step"]
  double* param_state;         // per parameter, one scalar of optimizer state (NAdam's
                               // mu_product, ASGD's eta); 0 before the first step
  std::uint32_t* arrivals;     // per parameter: chunks of this step done, NOTE(step-count) in
                               // multi_tensor.cuh; zero between launches
  // NOTE(amp): torch's fused grad_scale / found_inf, fp32 scalars on the parameters' device
  // (nullptr when unused), read by every block at run time. The gradient is divided by
  // *grad_scale as it is loaded; when *found_inf != 0 the step changes nothing at all (no
  // parameter, state or step count), as torch's fused optimizers skip it.
  const float* grad_scale;
  const float* found_inf;
  // NOTE(frozen): one byte per parameter, 0 = skip it this step, as torch skips a parameter
  // whose grad is None: no update, no state change, no step-count advance. Read by every block
  // at run time, so flipping it needs no plan rebuild and a captured step follows it.
  const std::uint8_t* enabled;
  // NOTE(clip): clipping by the global norm inside the step. `grad_norm` is the norm of every
  // gradient as stored (times the loss scale under AMP), computed on the device by a launch
  // before the step (nullptr when unused); every block derives the coefficient
  // min(1, max_grad_norm / (norm + 1e-6)) from it, as torch's clip_grad_norm_ does, and the step
  // multiplies each gradient by it in registers. No host synchronisation.
  const float* grad_norm;
  float max_grad_norm;
};

/// NOTE(frozen): whether parameter `param` takes this step.
FUSEDOPT_HD bool param_enabled(const StepScalars& s, std::int32_t param) {
  return s.enabled == nullptr || s.enabled[param] != 0;
}

/// NOTE(absent-grad): a parameter whose gradient is not bound (a null TensorEntry::lists[1] for
/// a non-empty tensor:
/// torch's grad is None before the first backward, or after zero_grad(set_to_none=True)) is
/// skipped as a frozen one is, by every Op that reads gradients: no update, no state change, no
/// step-count advance. Read from the entry by every block, so no write to the enabled mask can
/// make a step read it. Ops that do not read gradients (schedule-free's train()/eval() switch)
/// say so with kReadsGradients = false.
template <class Op, class = void>
struct ReadsGradients : std::true_type {};
template <class Op>
struct ReadsGradients<Op, std::void_t<decltype(Op::kReadsGradients)>>
    : std::integral_constant<bool, Op::kReadsGradients> {};

/// NOTE(frozen), NOTE(absent-grad): whether tensor `t` takes this step of Op.
template <class Op>
FUSEDOPT_HD bool takes_step(const StepScalars& s, const TensorEntry& t) {
  return param_enabled(s, t.param) &&
         (!ReadsGradients<Op>::value || t.lists[1] != nullptr || t.numel == 0);
}

/// NOTE(amp): true when this step is to be skipped.
FUSEDOPT_HD bool skip_step(const StepScalars& s) {
  return s.found_inf != nullptr && *s.found_inf != 0.0f;
}
/// NOTE(amp), NOTE(clip), NOTE(maximize): what the step does to a gradient as it reads it:
/// divide by the loss scale, then multiply by the clipping coefficient, each only when it is not
/// 1, then flip its sign bit by `sign`; identity() when none of them does anything.
struct GradFactors {
  float divisor = 1.0f, multiplier = 1.0f;
  std::uint32_t sign = 0;  // 0x80000000 for maximize, else 0
  FUSEDOPT_HD bool identity() const {
    return divisor == 1.0f && multiplier == 1.0f && sign == 0;
  }
};

/// NOTE(maximize): torch's maximize negates the gradient before anything else reads it. The
/// engine does it for every optimizer as it reads the gradient, with the loss scale and the
/// clipping factor (after both, as torch), by flipping the sign bit: exactly -g, NaN payloads
/// included. A run-time mode, not a functor's flag: a flag compiled every step body twice. A
/// segment with a maximizing group runs the kernels that apply GradFactors (kUnscale,
/// SegmentLaunch::applies_grad_factors); the others keep theirs free of it.
FUSEDOPT_HD float apply_sign(float g, std::uint32_t sign) { return bits_float(float_bits(g) ^ sign); }

/// NOTE(amp): whether a step may scale gradients (a loss scale or a clipping norm is bound).
/// The device cannot read the factors before the launch, so the kernel is chosen by this or by
/// a maximizing group in the segment (kUnscale, SegmentLaunch::applies_grad_factors); a kernel
/// without it does nothing to the gradient it reads.
FUSEDOPT_HD bool may_scale_grads(const StepScalars& s) {
  return s.grad_scale != nullptr || s.grad_norm != nullptr;
}

/// The factors of a step for a tensor of `group`.
FUSEDOPT_HD GradFactors grad_factors(const StepScalars& s, const GroupScalars& group) {
  GradFactors f;
  f.sign = (group.modes & kMaximize) != 0 ? 0x80000000u : 0u;
  if (s.grad_scale != nullptr) f.divisor = *s.grad_scale;
  if (s.grad_norm != nullptr)  // the norm of the unscaled gradients, as torch clips them
    f.multiplier = amp::clip_coefficient(
        s.grad_scale != nullptr ? amp::div_rn(*s.grad_norm, f.divisor) : *s.grad_norm,
        s.max_grad_norm);
  return f;
}

struct PlanView {
  const TensorEntry* tensors;
  const ChunkEntry* chunks;
};

/// One storage dtype's share of the plan: chunks [chunk_begin, chunk_end) and the tensors
/// [tensor_begin, tensor_end) they belong to.
struct Segment {
  std::int64_t chunk_begin;
  std::int64_t chunk_end;
  std::int32_t tensor_begin;
  std::int32_t tensor_end;
};

/// Blocks of the Loop/Foreach step-count launch: one thread per tensor of the segment.
FUSEDOPT_HD std::int64_t finish_blocks(const Segment& segment) {
  const std::int64_t tensors = segment.tensor_end - segment.tensor_begin;
  return tensors <= 0 ? 0 : (tensors + kThreads - 1) / kThreads;
}

/// Chunks a tensor of `numel` elements owns (at least one, see NOTE(plan)).
FUSEDOPT_HD std::int64_t chunk_count(std::int64_t numel) {
  return numel <= 0 ? 1 : (numel + kChunkSize - 1) / kChunkSize;
}

/// The element range [begin, end) of the tensor that chunk `chunk` covers. 64-bit throughout:
/// tensors may exceed 2^31 elements.
struct ChunkRange {
  std::int32_t tensor;
  std::int64_t begin;
  std::int64_t end;
};

FUSEDOPT_HD ChunkRange chunk_range(const PlanView& plan, std::int64_t chunk) {
  const ChunkEntry c = plan.chunks[chunk];
  const std::int64_t numel = plan.tensors[c.tensor].numel;
  const std::int64_t begin = std::int64_t(c.chunk) * kChunkSize;
  return {c.tensor, begin, min_of(begin + kChunkSize, numel)};
}

}  // namespace fusedopt::kernels
