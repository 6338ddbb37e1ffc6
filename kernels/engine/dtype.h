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
  // NOTE(f16-selects): no branches on the value, so that CPU loops over f16 vectorize: every
  // case is computed and one selected. Normal: rebias the exponent (+112). Subnormal (and
  // zero): the mantissa as a float with exponent 2^-14 plus one implicit bit, minus that bit
  // (exact). Inf and NaN: exponent all ones, NaN quieted (NOTE(nan-bits)).
  const std::uint32_t sign = std::uint32_t(x.bits & 0x8000u) << 16;
  const std::uint32_t magnitude = std::uint32_t(x.bits & 0x7fffu) << 13;
  const std::uint32_t exp = magnitude & 0x0f800000u;
  const std::uint32_t normal = magnitude + (112u << 23);
  const std::uint32_t subnormal = float_bits(bits_float(normal + (1u << 23)) - bits_float(113u << 23));
  const std::uint32_t special = (normal + (112u << 23)) | (magnitude > 0x0f800000u ? 0x00400000u : 0u);
  const std::uint32_t bits = exp == 0x0f800000u ? special : exp == 0 ? subnormal : normal;
  return bits_float(sign | bits);
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
/// from_float<BFloat16>(x) loaded back as a float, in 32-bit words only: a value rounded in
/// registers (InRegisterRounding in apply.h) keeps the CPU loops free of 16-bit lanes
/// (NOTE(cpu-columns)). The same bits as to_float(from_float<BFloat16>(x)), NaN quieted.
FUSEDOPT_HD float bf16_nearest(float x) {
  const std::uint32_t u = float_bits(x);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return bits_float((nan ? u | 0x00400000u : u + rounding) & 0xffff0000u);
}
template <>
FUSEDOPT_HD Half from_float<Half>(float x) {
#if defined(__CUDA_ARCH__)
  const std::uint32_t u = float_bits(x);
  const std::uint16_t nan = std::uint16_t(((u >> 16) & 0x8000u) | 0x7e00u);  // NOTE(nan-bits)
  return {(u & 0x7fffffffu) > 0x7f800000u ? nan : __half_as_ushort(__float2half_rn(x))};
#else
  // NOTE(f16-selects), the other way. Normal: rebias, then round the 13 dropped mantissa bits
  // to nearest-even by adding 0xfff plus the lowest kept bit (a carry into the exponent is
  // right, up to inf at 65520). Subnormal: adding 0.5 (2^-1) makes the float unit rounding
  // the value to a multiple of 2^-24 to nearest-even; the low bits are then the f16 bits.
  const std::uint32_t u = float_bits(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t abs = u & 0x7fffffffu;
  const std::uint32_t normal = (abs + 0xc8000fffu + ((abs >> 13) & 1u)) >> 13;  // -112 << 23
  constexpr std::uint32_t kHalf = 126u << 23;
  const std::uint32_t subnormal = float_bits(bits_float(abs) + bits_float(kHalf)) - kHalf;
  const std::uint32_t special = abs > 0x7f800000u ? 0x7e00u : 0x7c00u;  // NOTE(nan-bits)
  const std::uint32_t bits = abs >= 0x47800000u ? special : abs < 0x38800000u ? subnormal : normal;
  return {std::uint16_t(sign | bits)};
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
