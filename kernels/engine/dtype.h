#pragma once
// Storage types and float conversion, identical on host and device.
//
// NOTE(opmath): every functor computes in float whatever the storage dtype; values are
// converted on load and rounded to nearest-even on store.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/engine/config.h"
#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace fusedopt::kernels {

/// IEEE binary16 storage.
struct alignas(2) Half {
  std::uint16_t bits;
};
/// bfloat16 storage (the upper half of a float).
struct alignas(2) BFloat16 {
  std::uint16_t bits;
};

FUSEDOPT_HD std::uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}
FUSEDOPT_HD float bits_float(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

FUSEDOPT_HD float to_float(float x) { return x; }
FUSEDOPT_HD float to_float(BFloat16 x) { return bits_float(std::uint32_t(x.bits) << 16); }
// NOTE(nan-bits): NaN conversions are defined here, not left to the hardware, so that both
// executors store the same bits: an f16 NaN loads as the quiet float NaN with its sign and
// payload (the host code below; the device's cvt may canonicalize), and a float NaN stores as
// the f16 quiet NaN of its sign, sign | 0x7e00 (the device's cvt.rn.f16.f32 gives 0x7fff).
// bf16 uses the same integer code on both. Tests: every f16 and bf16 bit pattern through each
// executor (tests/test_dtype.cpp).
FUSEDOPT_HD float half_nan_to_float(std::uint16_t bits) {
  return bits_float((std::uint32_t(bits & 0x8000u) << 16) | 0x7fc00000u |
                    (std::uint32_t(bits & 0x3ffu) << 13));
}

FUSEDOPT_HD float to_float(Half x) {
#if defined(__CUDA_ARCH__)
  const float f = __half2float(__ushort_as_half(x.bits));
  return (x.bits & 0x7fffu) > 0x7c00u ? half_nan_to_float(x.bits) : f;
#else
  const std::uint32_t sign = std::uint32_t(x.bits & 0x8000u) << 16;
  std::uint32_t exp = (x.bits >> 10) & 0x1fu;
  std::uint32_t mant = x.bits & 0x3ffu;
  if (exp == 0x1f && mant != 0) return half_nan_to_float(x.bits);  // NOTE(nan-bits)
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u);           // inf
  if (exp == 0) {
    if (mant == 0) return bits_float(sign);
    // Subnormal: normalise the mantissa.
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while ((mant & 0x400u) == 0);
    return bits_float(sign | (std::uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13));
  }
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
#endif
}

template <class T>
FUSEDOPT_HD T from_float(float x);
template <>
FUSEDOPT_HD float from_float<float>(float x) { return x; }
template <>
FUSEDOPT_HD BFloat16 from_float<BFloat16>(float x) {
  const std::uint32_t u = float_bits(x);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);  // nearest-even
  // A select rather than an early return, so that CPU loops over bf16 vectorize.
  return {std::uint16_t(nan ? (u >> 16) | 0x40u : (u + rounding) >> 16)};  // nan: quiet it
}
template <>
FUSEDOPT_HD Half from_float<Half>(float x) {
#if defined(__CUDA_ARCH__)
  const std::uint32_t u = float_bits(x);
  const std::uint16_t nan = std::uint16_t(((u >> 16) & 0x8000u) | 0x7e00u);  // NOTE(nan-bits)
  return {(u & 0x7fffffffu) > 0x7f800000u ? nan : __half_as_ushort(__float2half_rn(x))};
#else
  const std::uint32_t u = float_bits(x);
  const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
  const std::uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return {std::uint16_t(sign | 0x7e00u)};        // NOTE(nan-bits)
  if (abs >= 0x477ff000u) return {std::uint16_t(sign | 0x7c00u)};       // overflow -> inf
  if (abs < 0x38800000u) {                                              // subnormal or zero
    if (abs < 0x33000000u) return {sign};                               // < half the min subnormal
    const std::uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - int(abs >> 23);                             // 14..24
    const std::uint32_t half_ulp = 1u << (shift - 1);
    std::uint32_t result = mant >> shift;
    const std::uint32_t rest = mant & ((1u << shift) - 1);
    if (rest > half_ulp || (rest == half_ulp && (result & 1u))) ++result;
    return {std::uint16_t(sign | result)};
  }
  // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest-even.
  std::uint32_t h = ((abs >> 23) - 112u) << 10 | ((abs >> 13) & 0x3ffu);
  const std::uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: ok
  return {std::uint16_t(sign | h)};
#endif
}

/// NOTE(master-weights): the storage of a segment whose f16/bf16 parameters (type T) have an
/// fp32 master copy. The step reads and updates the master (list 0 holds it) and writes the
/// parameter rounded to nearest from it (TensorEntry::model); the gradient stays T.
template <class T>
struct Master {};
/// NOTE(state-dtype): the storage of a segment of bf16 parameters (T: BFloat16 or
/// Master<BFloat16>) whose optimizer state is bf16: computed in fp32, rounded on store.
template <class T>
struct Bf16State {};

/// What a segment stores: Model, the parameters' and gradients' dtype; Value, what list 0 holds
/// (the parameter itself, or its fp32 master copy); State, the optimizer state's dtype.
template <class T>
struct Layout {
  using Model = T;
  using Value = T;
  using State = float;
  static constexpr bool kMaster = false;
};
template <class T>
struct Layout<Master<T>> {
  using Model = T;
  using Value = float;
  using State = float;
  static constexpr bool kMaster = true;
};
template <class T>
struct Layout<Bf16State<T>> : Layout<T> {
  using State = BFloat16;
};

/// Tag type for dispatch: f(type_tag<float>{}).
template <class T>
struct type_tag {
  using type = T;
};

}  // namespace fusedopt::kernels
