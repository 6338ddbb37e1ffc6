#pragma once
// Compile-time constants and the host/device qualifier shared by both executors.
#include <cstdint>

#if defined(__CUDACC__)
#define FUSEDOPT_HD __host__ __device__ __forceinline__
#elif defined(__OPTIMIZE__) && !defined(__clang__)
// Always inlined on the host too (GCC, optimized builds): the CPU executor's element loops
// vectorize only when every pass is inlined into them, and GCC keeps a pass out of line once it
// is also called for its IO. Not under clang: with ASan (scripts/sanitize.sh) forcing every
// inlining made one optimizer file take over 13 minutes to compile.
#define FUSEDOPT_HD inline __attribute__((always_inline))
#else
#define FUSEDOPT_HD inline
#endif

namespace fusedopt::kernels {

/// Elements per chunk: one CUDA block (or one CPU task) updates one chunk.
constexpr std::int64_t kChunkSize = 65536;
/// Threads per CUDA block.
constexpr int kThreads = 512;
/// Bytes per vector load of parameters and gradients (one LDG.128 / STG.128).
constexpr int kVectorBytes = 16;
/// Elements per vector for storage type T: 4 floats or 8 halves. Float state is loaded with the
/// same element count (16 or 32 bytes).
template <class T>
constexpr int vector_elements() {
  return kVectorBytes / int(sizeof(T));
}
/// Every state tensor starts at a multiple of this many floats, so that its vectors are aligned
/// for any storage type (8 floats = 32 bytes, the state vector of a 2-byte dtype).
constexpr int kStateAlignElements = 8;
/// param, grad, up to four state tensors and two temporaries (Impl::Loop and Impl::Foreach).
constexpr int kMaxLists = 8;
constexpr int kMaxStates = 4;
/// NOTE(build-what-you-use): whether the unfused implementations (Impl::Loop, Impl::Foreach:
/// the pass and finish kernels) are compiled; CMakeLists.txt's FUSEDOPT_UNFUSED sets it, and
/// a unit compiled alone (scripts/kernel_report.py) has them.
#ifndef FUSEDOPT_UNFUSED
#define FUSEDOPT_UNFUSED 1
#endif

/// Numeric hyper-parameter slots per group (see each functor's Slot enum).
constexpr int kMaxHyper = 8;

template <class T>
FUSEDOPT_HD T min_of(T a, T b) { return a < b ? a : b; }
template <class T>
FUSEDOPT_HD T max_of(T a, T b) { return a < b ? b : a; }

}  // namespace fusedopt::kernels
