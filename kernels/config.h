#pragma once
// Compile-time constants and the host/device qualifier shared by both executors.
#include <cstdint>

#if defined(__CUDACC__)
#define FUSEDOPT_HD __host__ __device__ __forceinline__
#else
#define FUSEDOPT_HD inline
#endif

namespace fusedopt::kernels {

/// Elements per chunk: one CUDA block (or one CPU task) updates one chunk.
constexpr std::int64_t kChunkSize = 65536;
/// Threads per CUDA block.
constexpr int kThreads = 512;
/// Elements per vector load: 4 floats = 16 bytes.
constexpr int kVec = 4;
/// param, grad and up to four state tensors.
constexpr int kMaxLists = 6;
/// Numeric hyper-parameter slots per group (see each functor's Slot enum).
constexpr int kMaxHyper = 8;

template <class T>
FUSEDOPT_HD T min_of(T a, T b) { return a < b ? a : b; }
template <class T>
FUSEDOPT_HD T max_of(T a, T b) { return a < b ? b : a; }

}  // namespace fusedopt::kernels
