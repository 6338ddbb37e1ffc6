#pragma once
// Views of memory the training engine owns. fusedopt never frees what a TensorView points to.
#include <cstddef>
#include <cstdint>
#include <string>

namespace fusedopt {

/// Storage type of parameters and gradients. Arithmetic is always done in float.
enum class DType : std::uint8_t { f32, f16, bf16 };

std::size_t dtype_size(DType dtype);
const char* to_string(DType dtype);

/// Where memory lives: the host (CPU executor) or a CUDA device (CUDA executor).
struct Device {
  enum class Kind : std::uint8_t { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static constexpr Device cpu() { return {Kind::cpu, 0}; }
  static constexpr Device cuda(int index = 0) { return {Kind::cuda, index}; }
  constexpr bool is_cuda() const { return kind == Kind::cuda; }
  constexpr bool is_cpu() const { return kind == Kind::cpu; }
  friend constexpr bool operator==(Device a, Device b) {
    return a.kind == b.kind && (a.kind == Kind::cpu || a.index == b.index);
  }
  friend constexpr bool operator!=(Device a, Device b) { return !(a == b); }
  std::string str() const;  // "cpu" or "cuda:N"
};

/// A contiguous 1-D view of `numel` elements of `dtype` at `data` on `device`.
/// Multi-dimensional tensors are passed flattened; the update is elementwise.
struct TensorView {
  void* data = nullptr;
  std::int64_t numel = 0;
  DType dtype = DType::f32;
  Device device = Device::cpu();
};

/// A parameter and its gradient. Both views must have the same numel, dtype and device, except
/// a gradient that is not there yet: null data (e.g. `{}`) for a non-empty value, as torch's
/// grad is None before the first backward. Such a parameter is skipped by step(), zero_grad()
/// and the clipping norm, as torch skips it, until rebind() gives it a gradient
/// (NOTE(absent-grad) in kernels/engine/plan.h).
struct Param {
  TensorView value;
  TensorView grad;
};

/// How a step is launched, as torch.optim's three paths:
///   Loop:    per tensor, one elementwise kernel per op (torch's for-loop, foreach=False);
///   Foreach: one multi-tensor kernel per op over all tensors (foreach=True);
///   Fused:   one kernel for the whole step over all tensors (fused=True; the default).
/// All three compute the same update (see NOTE(passes) in kernels/engine/passes.h); Loop and Foreach
/// keep their intermediate values in fp32 temporaries the size of the parameters.
enum class Impl { Loop, Foreach, Fused };
const char* to_string(Impl impl);

/// What one step costs with the current Impl: bytes of global memory read and written (every
/// list each kernel touches, at its storage size; the benchmarks' byte model) and launches.
struct StepCost {
  double bytes = 0;
  std::int64_t launches = 0;
};

/// True when CUDA support was compiled in and at least one device is visible.
bool cuda_available();
/// Number of visible CUDA devices: 0 without CUDA support, without a driver or without a
/// device. Throws Error (naming CUDA's error and the driver and runtime versions) when CUDA is
/// there but unusable, e.g. a driver older than the runtime: that is a broken GPU machine, not
/// a CPU-only one. cuda_available() likewise.
int cuda_device_count();
/// The instruction set the CPU executor's element loops run with: "avx512", "avx2" or
/// "baseline" (x86-64's SSE2, and any CPU that is not x86-64). The widest the CPU supports;
/// the environment variable FUSEDOPT_CPU_ISA (one of those names, read at the first step) can
/// lower it. Every level gives the same bits.
const char* cpu_isa();

}  // namespace fusedopt
