// NOTE(cpu-isa): which compiled level of the CPU loops runs.
#include "kernels/engine/cpu_isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "fusedopt/tensor.hpp"

namespace fusedopt::kernels {
namespace {

CpuIsa detect() {
#if FUSEDOPT_CPU_DISPATCH
  __builtin_cpu_init();  // libgcc / compiler-rt: CPUID, and XGETBV for the OS's vector state
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    return CpuIsa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2"))
    return CpuIsa::avx2;
#endif
  return CpuIsa::baseline;
}

/// FUSEDOPT_CPU_ISA, if set to a level name: an unknown value is ignored (the detected level).
CpuIsa initial_level() {
  CpuIsa level = detected_cpu_isa();
  const char* requested = std::getenv("FUSEDOPT_CPU_ISA");
  if (requested == nullptr) return level;
  for (CpuIsa isa : {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512})
    if (std::strcmp(requested, to_string(isa)) == 0 && int(isa) < int(level)) level = isa;
  return level;
}

std::atomic<int>& level_in_use() {
  static std::atomic<int> level{int(initial_level())};
  return level;
}

}  // namespace

CpuIsa detected_cpu_isa() {
  static const CpuIsa detected = detect();
  return detected;
}

CpuIsa active_cpu_isa() { return CpuIsa(level_in_use().load(std::memory_order_relaxed)); }

CpuIsa set_cpu_isa(CpuIsa isa) {
  const int level = int(isa) < int(detected_cpu_isa()) ? int(isa) : int(detected_cpu_isa());
  return CpuIsa(level_in_use().exchange(level, std::memory_order_relaxed));
}

const char* to_string(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512:
      return "avx512";
    case CpuIsa::avx2:
      return "avx2";
    case CpuIsa::baseline:
      break;
  }
  return "baseline";
}

}  // namespace fusedopt::kernels

namespace fusedopt {
const char* cpu_isa() { return kernels::to_string(kernels::active_cpu_isa()); }
}  // namespace fusedopt
