#pragma once
// How a step rounds the values it stores narrower than float (NOTE(stochastic-rounding)).
//
// NOTE(stochastic-rounding): with a group's stochastic_rounding on, a bf16 parameter without a
// master copy is stored rounded stochastically: up with probability equal to the fraction of
// an ulp it lies above the value below, so that updates far below half an ulp still move the
// weight on average. The random bits come from Philox-4x32-10 (Salmon et al., SC'11), a
// counter-based generator: key = the group's 64-bit seed, counter = (element index, parameter
// index, step count before the step). The same (seed, parameter, element, step) therefore gives
// the same bits whatever the Impl, executor, chunking or thread that stores the element, and a
// resumed run (step counts restored) continues bit for bit.
#include <cstdint>
#include <type_traits>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"

namespace fusedopt::kernels {

/// The per-tensor inputs of stochastic rounding; `stochastic` false: round to nearest-even.
struct Rounding {
  bool stochastic = false;
  std::uint32_t key[2] = {0, 0};  // the group's seed
  std::uint32_t param = 0;        // StepScalars index of the parameter
  std::uint32_t step = 0;         // its step count before this step
};

/// Philox-4x32-10: four 32-bit random words for a 128-bit counter and a 64-bit key.
struct PhiloxWords {
  std::uint32_t v[4];
};

FUSEDOPT_HD std::uint32_t mul_hi_lo(std::uint32_t a, std::uint32_t b, std::uint32_t* hi) {
#if defined(__CUDA_ARCH__)
  *hi = __umulhi(a, b);
  return a * b;
#else
  const std::uint64_t product = std::uint64_t(a) * b;
  *hi = std::uint32_t(product >> 32);
  return std::uint32_t(product);
#endif
}

FUSEDOPT_HD PhiloxWords philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                      std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mul_hi_lo(kMul0, c0, &hi0);
    const std::uint32_t lo1 = mul_hi_lo(kMul1, c2, &hi1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {{c0, c1, c2, c3}};
}

/// 16 random bits for storing element `element` of list `list` (0 = the parameter) under `r`.
FUSEDOPT_HD std::uint32_t rounding_bits(const Rounding& r, std::int64_t element, int list) {
  const PhiloxWords w = philox4x32_10(std::uint32_t(element), std::uint32_t(std::uint64_t(element) >> 32),
                                      r.param, r.step, r.key[0], r.key[1]);
  const std::uint32_t word = w.v[(list >> 1) & 3];
  return (list & 1) ? word >> 16 : word & 0xffffu;
}

/// bf16 rounded stochastically with `bits` (16 random bits): exact values stay exact, NaN is
/// quieted as from_float does, infinities stay infinite.
FUSEDOPT_HD BFloat16 bf16_round_stochastic(float x, std::uint32_t bits) {
  const std::uint32_t u = float_bits(x);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const bool inf = (u & 0x7fffffffu) == 0x7f800000u;
  return {std::uint16_t(nan ? (u >> 16) | 0x40u : inf ? u >> 16 : (u + bits) >> 16)};
}

/// The stochastic store of one bf16 element. Out of line on the device: the Philox rounds would
/// otherwise count against the registers of every bf16 kernel, stochastic rounding on or off
/// (+16..25 registers, half the blocks per SM for SGD, Adagrad and Lion); the call is taken only
/// with stochastic rounding on.
#if defined(__CUDA_ARCH__)
__device__ __noinline__
#else
inline
#endif
    std::uint16_t bf16_stochastic_bits(float x, std::uint32_t k0, std::uint32_t k1,
                                       std::uint32_t param, std::uint32_t step,
                                       std::int64_t element, int list) {
  Rounding r;
  r.key[0] = k0;
  r.key[1] = k1;
  r.param = param;
  r.step = step;
  return bf16_round_stochastic(x, rounding_bits(r, element, list)).bits;
}

/// `x` stored as V (element `element` of list `list`), under rounding `r`.
template <class V>
FUSEDOPT_HD V round_store(float x, const Rounding& r, std::int64_t element, int list) {
  if constexpr (std::is_same_v<V, BFloat16>) {
    if (r.stochastic)
      return {bf16_stochastic_bits(x, r.key[0], r.key[1], r.param, r.step, element, list)};
  }
  return from_float<V>(x);
}

/// `x` as a store under `r` and a load back would give it (InRegisterRounding in apply.h).
template <class V>
FUSEDOPT_HD float round_in_register(float x, const Rounding& r, std::int64_t element, int list) {
  if constexpr (std::is_same_v<V, BFloat16>) {
    if (!r.stochastic) return bf16_nearest(x);
  }
  return to_float(round_store<V>(x, r, element, list));
}

}  // namespace fusedopt::kernels
