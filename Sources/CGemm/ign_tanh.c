// tanh over an array of floats, vectorised, within one rounding of the true value.
//
// libm's tanhf runs one element at a time (about 30 ns here). Each element is worked in double
// precision instead: e = exp(2x) by range reduction (2x = n·ln2 + r, |r| ≤ ln2/2, 2ⁿ from the
// exponent bits, exp(r) from its Taylor series to r¹³, relative error below 1e-15), then
// tanh(x) = (e − 1)/(e + 1). That error is far below a float's rounding, so the result is the
// true tanh rounded to float but for near-ties; |x| < 2⁻¹³ returns x (the cubic term is below
// half an ulp) and |x| > 10 is taken as ±10 (tanh(10) rounds to 1). Only additions, multiplications,
// one division and conversions, with contraction into fused multiply-adds off: every instruction
// set gives the same bits, so one function is compiled for each and the best runs.

#include "ign_gemm.h"

#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

static inline float tanh_one(float xf) {
    double x = xf, a = x < 0 ? -x : x;
    double y = 2 * (a > 10 ? 10 : a);
    // n = round(y / ln2) by the 1.5·2⁵² trick (n is then the low bits of `shifted`);
    // r = y − n·ln2 with ln2 split in two, so that n·ln2_hi is exact.
    double shifted = y * 1.4426950408889634 + 0x1.8p52;
    double n = shifted - 0x1.8p52;
    double r = (y - n * 0x1.62e42fee00000p-1) - n * 0x1.a39ef35793c76p-33;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t shifted_bits, magic_bits;
    double magic = 0x1.8p52, scale;
    memcpy(&shifted_bits, &shifted, sizeof shifted);
    memcpy(&magic_bits, &magic, sizeof magic);
    int64_t scale_bits = (shifted_bits - magic_bits + 1023) << 52;  // 2ⁿ
    memcpy(&scale, &scale_bits, sizeof scale);
    double e = p * scale;
    float t = (float)((e - 1) / (e + 1));
    float result = a < 0x1p-13 ? (float)a : t;
    return x < 0 ? -result : result;
}

#define TANH(name, target_attr)                                               \
    __attribute__((target(target_attr))) static void name(const float *x, float *y, long n) { \
        for (long i = 0; i < n; i++) y[i] = tanh_one(x[i]);                   \
    }
TANH(tanh_avx512, "avx512f,avx512dq")
TANH(tanh_avx2, "avx2")
TANH(tanh_base, "sse2")

void ign_tanh(const float *x, float *y, long n) {
    const char *simd = ign_gemm_kernel();
    if (strcmp(simd, "avx512") == 0) tanh_avx512(x, y, n);
    else if (strcmp(simd, "avx2") == 0) tanh_avx2(x, y, n);
    else tanh_base(x, y, n);
}
