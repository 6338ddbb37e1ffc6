#pragma once
// Floating-point helpers whose results are the same bits on the host and the device.
//
// NOTE(deterministic-fp): the gradient norms are bitwise identical on the CPU executor, the
// emulated device and CUDA (NOTE(grad-norm) in kernels/grad/grad_norm.h). That needs every
// operation on the path to be one IEEE-754 correctly rounded operation in both compilers:
//   - no contraction of a * b + c into an FMA: nvcc contracts by default, so device code uses
//     the __fadd_rn / __fmul_rn / __dadd_rn / __dmul_rn intrinsics, which it never contracts;
//     host code is compiled in ISO C++ mode (CMAKE_CXX_EXTENSIONS OFF), where GCC does not
//     contract either (a host build with -ffp-contract=fast would break the equality);
//   - no math library: CUDA's powf / logf / expf are not correctly rounded and differ from
//     glibc's. |x|^p and the p-th root are computed by det_pow below from + - * / and exact
//     bit manipulation only (a double log and exp, ~1e-15 relative, then rounded to float);
//   - sqrt and division are correctly rounded on both (sqrtf / __fsqrt_rn, / and __fdiv_rn);
//   - NaN payloads differ (x86 propagates an operand's, the GPU returns 0x7fffffff), so every
//     NaN that leaves a kernel is the canonical quiet NaN 0x7fc00000 (canonical()).
#include <cstdint>
#include <cstring>

#include "kernels/engine/config.h"
#include "kernels/engine/dtype.h"

namespace fusedopt::kernels::amp {

FUSEDOPT_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
FUSEDOPT_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
FUSEDOPT_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
FUSEDOPT_HD float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return __builtin_sqrtf(a);  // sqrtss: correctly rounded (-fno-math-errno: no libm call)
#endif
}
FUSEDOPT_HD double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
FUSEDOPT_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
FUSEDOPT_HD double div_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

FUSEDOPT_HD std::uint64_t double_bits(double d) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(d));
#else
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
#endif
}
FUSEDOPT_HD double bits_double(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
#endif
}

constexpr std::uint32_t kCanonicalNaNBits = 0x7fc00000u;

FUSEDOPT_HD bool is_nan(float x) { return (float_bits(x) & 0x7fffffffu) > 0x7f800000u; }
FUSEDOPT_HD bool is_finite(float x) { return (float_bits(x) & 0x7f800000u) != 0x7f800000u; }
FUSEDOPT_HD float abs_of(float x) { return bits_float(float_bits(x) & 0x7fffffffu); }
/// NOTE(deterministic-fp): every NaN as 0x7fc00000.
FUSEDOPT_HD float canonical(float x) { return is_nan(x) ? bits_float(kCanonicalNaNBits) : x; }

/// 2^n for n in [-1022, 1023], exactly.
FUSEDOPT_HD double pow2(int n) { return bits_double(std::uint64_t(n + 1023) << 52); }

/// Natural log of a finite x > 0 (normal or subnormal), from + - * / only: x = m 2^e with
/// m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(t) = 2 (t + t^3/3 + ...), t = (m - 1) / (m + 1),
/// |t| <= 0.172, eleven terms (error < 1e-18).
FUSEDOPT_HD double det_log(double x) {
  int e = 0;
  if (x < 0x1p-1022) {  // subnormal: scale up exactly
    x = mul_rn(x, 0x1p54);
    e = -54;
  }
  const std::uint64_t u = double_bits(x);
  e += int((u >> 52) & 0x7ffu) - 1022;
  double m = bits_double((u & 0x000fffffffffffffull) | (std::uint64_t(1022) << 52));  // [0.5, 1)
  if (m < 0x1.6a09e667f3bcdp-1) {  // sqrt(1/2)
    m = mul_rn(m, 2.0);
    e -= 1;
  }
  const double t = div_rn(add_rn(m, -1.0), add_rn(m, 1.0));
  const double s = mul_rn(t, t);
  constexpr double kCoeff[] = {  // 1 / (2k + 1), k = 10 .. 0
      0x1.8618618618618p-5, 0x1.af286bca1af28p-5, 0x1.e1e1e1e1e1e1ep-5, 0x1.1111111111111p-4,
      0x1.3b13b13b13b14p-4, 0x1.745d1745d1746p-4, 0x1.c71c71c71c71cp-4, 0x1.2492492492492p-3,
      0x1.999999999999ap-3, 0x1.5555555555555p-2, 0x1.0000000000000p+0};
  double poly = kCoeff[0];
#pragma unroll
  for (int k = 1; k < 11; ++k) poly = add_rn(mul_rn(poly, s), kCoeff[k]);
  constexpr double kLn2Hi = 0x1.62e42fee00000p-1;  // trailing zeros: e * kLn2Hi is exact
  constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;
  const double log_m = mul_rn(mul_rn(2.0, t), poly);
  return add_rn(mul_rn(double(e), kLn2Hi), add_rn(mul_rn(double(e), kLn2Lo), log_m));
}

/// e^z from + - * / only: z = n ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series to r^13
/// (error < 1e-17), times 2^n by exact power-of-two multiplications.
FUSEDOPT_HD double det_exp(double z) {
  if (z != z) return z;
  if (z > 710.0) return bits_double(0x7ff0000000000000ull);  // +inf
  if (z < -746.0) return 0.0;
  constexpr double kInvLn2 = 0x1.71547652b82fep+0;
  constexpr double kRound = 0x1.8p52;  // adding and subtracting it rounds to an integer
  const double n = add_rn(add_rn(mul_rn(z, kInvLn2), kRound), -kRound);
  constexpr double kLn2Hi = 0x1.62e42fee00000p-1;
  constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;
  const double r = add_rn(add_rn(z, -mul_rn(n, kLn2Hi)), -mul_rn(n, kLn2Lo));
  constexpr double kCoeff[] = {  // 1 / k!, k = 13 .. 0
      0x1.6124613a86d09p-33, 0x1.1eed8eff8d898p-29, 0x1.ae64567f544e4p-26, 0x1.27e4fb7789f5cp-22,
      0x1.71de3a556c734p-19, 0x1.a01a01a01a01ap-16, 0x1.a01a01a01a01ap-13, 0x1.6c16c16c16c17p-10,
      0x1.1111111111111p-7,  0x1.5555555555555p-5,  0x1.5555555555555p-3,  0x1.0000000000000p-1,
      0x1.0000000000000p+0,  0x1.0000000000000p+0};
  double p = kCoeff[0];
#pragma unroll
  for (int k = 1; k < 14; ++k) p = add_rn(mul_rn(p, r), kCoeff[k]);
  int k = int(n);
  if (k > 1023) {
    p = mul_rn(p, pow2(1023));
    k -= 1023;
  } else if (k < -1022) {
    p = mul_rn(p, pow2(-1022));
    k += 1022;
  }
  return mul_rn(p, pow2(k));  // one rounding, only where the result is subnormal
}

/// x^y for x >= 0 (or NaN) and y > 0: the same bits on every executor (NOTE(deterministic-fp)).
FUSEDOPT_HD double det_pow(double x, double y) {
  if (x != x) return x;
  if (x == 0.0) return 0.0;
  if (x > 0x1.fffffffffffffp+1023) return x;  // +inf
  return det_exp(mul_rn(y, det_log(x)));
}

/// torch's clip_grads_with_norm_: clip_coef = max_norm / (total_norm + 1e-6) evaluated as torch
/// does, reciprocal(total_norm + 1e-6) * max_norm in float (Tensor.__rtruediv__), then clamped to
/// at most 1 (a NaN stays NaN, as torch.clamp).
FUSEDOPT_HD float clip_coefficient(float total_norm, float max_norm) {
  const float coef = mul_rn(div_rn(1.0f, add_rn(total_norm, 1e-6f)), max_norm);
  return coef > 1.0f ? 1.0f : coef;
}

}  // namespace fusedopt::kernels::amp
