#pragma once
// NOTE(cpu-isa): the CPU executor's fused element loop (UpdateRangeLoop in apply.h, the loop of
// Impl::Fused) is compiled three times, for baseline x86-64 (SSE2), for AVX2 and for AVX-512
// (F, BW, VL, DQ; 512-bit vectors), and every range runs the widest one the CPU supports
// (FUSEDOPT_CPU_ISA=baseline|avx2|avx512 can lower it; CMake option FUSEDOPT_CPU_DISPATCH=OFF
// compiles the baseline only). The library is built for baseline x86-64, so only these loops
// use the wider instructions. Impl::Loop and Impl::Foreach keep the baseline pass loops: they
// are the multi-pass paths that show what fusing saves, and three levels of every pass would
// double the build. Every level computes the same bits: the loops are IEEE float arithmetic
// (add, mul, div, sqrt, compares and selects) and the library is compiled with
// -ffp-contract=off, so no level fuses a multiply and an add that another rounds twice.
// tests/test_trajectories.cpp (CpuIsaTest) runs every optimizer case at each level the machine
// has and compares the bits with the baseline loop's.
#include "kernels/engine/config.h"

// FUSEDOPT_CPU_BASELINE_ONLY (CMake option FUSEDOPT_CPU_DISPATCH=OFF): the baseline loops only.
#if !defined(__CUDACC__) && !defined(FUSEDOPT_CPU_BASELINE_ONLY) && defined(__x86_64__) && \
    (defined(__GNUC__) || defined(__clang__))
#define FUSEDOPT_CPU_DISPATCH 1
#define FUSEDOPT_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt")))
#if defined(__clang__)
#define FUSEDOPT_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,bmi,bmi2,popcnt")))
#else
// GCC's generic tuning prefers 256-bit vectors even where AVX-512 is enabled.
#define FUSEDOPT_TARGET_AVX512                                                   \
  __attribute__((                                                                \
      target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,bmi,bmi2,popcnt," \
             "prefer-vector-width=512")))
#endif
#else
#define FUSEDOPT_CPU_DISPATCH 0
#endif

// The body of a dispatched loop: inlined into each level's copy (a call would run the baseline
// code), whatever the optimization level and compiler.
#if defined(__GNUC__) || defined(__clang__)
#define FUSEDOPT_CPU_LOOP inline __attribute__((always_inline))
#else
#define FUSEDOPT_CPU_LOOP inline
#endif

namespace fusedopt::kernels {

enum class CpuIsa : int { baseline = 0, avx2 = 1, avx512 = 2 };

/// The widest level this CPU (and its OS) supports; baseline off x86-64.
CpuIsa detected_cpu_isa();
/// The level the loops use: the detected one, or FUSEDOPT_CPU_ISA's if lower (read once).
CpuIsa active_cpu_isa();
/// Tests and benchmarks: use `isa` (at most the detected level) from now on; returns the level
/// in use before.
CpuIsa set_cpu_isa(CpuIsa isa);
const char* to_string(CpuIsa isa);

#if FUSEDOPT_CPU_DISPATCH
template <class Loop, class... Args>
void run_baseline(const Args&... args) {
  Loop::run(args...);
}
template <class Loop, class... Args>
FUSEDOPT_TARGET_AVX2 void run_avx2(const Args&... args) {
  Loop::run(args...);
}
template <class Loop, class... Args>
FUSEDOPT_TARGET_AVX512 void run_avx512(const Args&... args) {
  Loop::run(args...);
}
#endif

/// Runs Loop::run(args...) compiled for the active level (NOTE(cpu-isa)).
template <class Loop, class... Args>
void run_cpu_loop(const Args&... args) {
#if FUSEDOPT_CPU_DISPATCH
  switch (active_cpu_isa()) {
    case CpuIsa::avx512:
      return run_avx512<Loop>(args...);
    case CpuIsa::avx2:
      return run_avx2<Loop>(args...);
    case CpuIsa::baseline:
      break;
  }
  return run_baseline<Loop>(args...);
#else
  Loop::run(args...);
#endif
}

}  // namespace fusedopt::kernels
