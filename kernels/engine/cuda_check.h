#pragma once
// FUSEDOPT_CUDA_CHECK(expr): throws fusedopt::Error naming the call, file and line. Never exits.
#include <cuda_runtime_api.h>

#include "fusedopt/error.hpp"

#define FUSEDOPT_CUDA_CHECK(expr)                                                         \
  do {                                                                                    \
    const cudaError_t fusedopt_status_ = (expr);                                          \
    if (fusedopt_status_ != cudaSuccess) {                                                \
      ::fusedopt::detail::throw_error("CUDA error in ", #expr, " at ", __FILE__, ":",     \
                                      __LINE__, ": ", cudaGetErrorName(fusedopt_status_), \
                                      " (", cudaGetErrorString(fusedopt_status_), ")");   \
    }                                                                                     \
  } while (0)

/// Checks the launch just made (configuration errors) without synchronizing.
#define FUSEDOPT_CUDA_CHECK_LAUNCH() FUSEDOPT_CUDA_CHECK(cudaGetLastError())
