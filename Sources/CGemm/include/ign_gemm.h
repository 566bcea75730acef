#ifndef IGN_GEMM_H
#define IGN_GEMM_H

/// Row-major single-precision matrix product with a fixed summation order:
/// `C = op(A)·B`, or `C += op(A)·B` when `accumulate` is nonzero, where op(A) is m×k
/// (A itself is k×m, rows `lda` apart, when `trans_a` is nonzero), B is k×n and C is m×n.
///
/// Every element of C is the chain of fused multiply-adds `c = fma(a[i][p], b[p][j], c)` for
/// p = 0, 1, …, k−1, starting from 0 (or from C). A fused multiply-add rounds once, so the
/// result is the same bit for bit whatever the element's position in the matrix, the matrix's
/// size, the leading dimensions or the kernel that ran: a column of B gives the same
/// column of C alone or inside any larger matrix.
void ign_gemm(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
              float *c, int ldc, int accumulate);

/// The same product computed one element at a time with `fmaf`: the definition, the tests'
/// reference, and what `ign_gemm` runs on a CPU without AVX2 and FMA.
void ign_gemm_reference(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                        float *c, int ldc, int accumulate);

/// The kernel `ign_gemm` runs: "avx512", "avx2" or "scalar" (the best this CPU has, or the one
/// the environment variable IGN_SIMD names if the CPU has it, unless `ign_gemm_use_kernel` chose
/// another).
const char *ign_gemm_kernel(void);

/// Makes `ign_gemm` run the named kernel from now on, process-wide; returns 0 (and changes
/// nothing) when the name is unknown or the CPU lacks the instructions. The results do not
/// change: this is for tests and benchmarks that compare kernels.
int ign_gemm_use_kernel(const char *name);

/// A stride-1 convolution of one sample with `m` (1 to 4) output channels, computed without
/// im2col, for the output rows `row0 ..< row1`: `y[o][oh][ow]` is the chain of fused multiply-adds
/// over (c, ki, kj) in that order of `weight[o][c][ki][kj]` and the input at
/// `(oh + ki − padding, ow + kj − padding)` (0 outside the image), starting from 0: exactly what
/// `ign_gemm` gives on the im2col columns. Input channel c starts at `x + c·channel_stride`
/// (`height` × `width`), output channel o at `y + o·out_channel_stride` (rows of
/// `width + 2·padding − kernel + 1`). Returns 0 and writes nothing when it cannot run here (the
/// scalar kernel in use, m above 4, padding ≥ kernel, kernel above 16):
/// the caller then takes the im2col path, which gives the same bits.
int ign_conv_direct(int m, int channels, int kernel, int padding, const float *x, long channel_stride,
                    int height, int width, const float *weight, float *y, long out_channel_stride, int row0, int row1);

/// A convolution of one sample with any number of output channels and stride 1 to 4, computed
/// without im2col, for the output rows `row0 ..< row1`: `y[o][oh][ow]` is the chain of fused
/// multiply-adds over (c, ki, kj) in that order of `weight[o][c][ki][kj]` and the input at
/// `(oh·stride + ki − padding, ow·stride + kj − padding)` (0 outside the image), starting from 0,
/// plus `bias[o]` (none when `bias` is NULL): exactly what `ign_gemm` gives on the im2col
/// columns, with the bias added after. Output rows are `(width + 2·padding − kernel) / stride + 1`
/// long; other arguments as for `ign_conv_direct`. Returns 0 and writes nothing when it cannot run
/// here (the scalar kernel in use, padding ≥ kernel, kernel above 16, stride above 4).
int ign_conv_rows(int m, int channels, int kernel, int stride, int padding, const float *x, long channel_stride,
                  int height, int width, const float *weight, const float *bias, float *y, long out_channel_stride,
                  int row0, int row1);
/// `y[i] = tanh(x[i])` for i < n, within one rounding of the true value (the same bits on every
/// instruction set); `y` may be `x`.
void ign_tanh(const float *x, float *y, long n);
#endif
