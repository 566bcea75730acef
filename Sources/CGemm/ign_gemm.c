// A small GEMM whose every output element is one fused multiply-add chain in k order.
//
// Most of C: B is packed in blocks of KC rows × up to BLOCK_FLOATS/KC columns, as NR-wide panels
// zero-padded past n. For each block of MR rows of op(A), a register tile of MR×NR
// accumulators runs each panel's KC steps (C is stored and reloaded between KC blocks, which
// is exact). Rows past m read row 0 of the block and are never stored; columns past n are
// zeros in the panel and never stored.
// The last few columns of a product (fewer than NARROW) run instead through a kernel that
// vectorises over rows of op(A), so a one-column product costs what a GEMV does.
// Nothing in an element's arithmetic depends on where the element lies or which kernel ran.

#include "ign_gemm.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/// Rows of B per pass over a tile (its A rows then stay in L1) and floats of B per block (L2).
enum { KC = 512, BLOCK_FLOATS = 32 * 1024 };

static _Thread_local float *panel_storage;
static _Thread_local size_t panel_capacity;

static float *panel_buffer(size_t count) {
    if (count > panel_capacity) {
        free(panel_storage);
        size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
        panel_storage = aligned_alloc(64, bytes);
        panel_capacity = panel_storage ? count : 0;
    }
    return panel_storage;
}

/// Columns j0 ..< j0 + w of rows p0 ..< p0 + kc of B into `out[p][nr]`, zeros past w.
static void pack_panel(const float *b, int ldb, int p0, int kc, int j0, int w, int nr, float *out) {
    for (int p = 0; p < kc; p++) {
        const float *row = b + (long)(p0 + p) * ldb + j0;
        float *dst = out + (long)p * nr;
        memcpy(dst, row, (size_t)w * sizeof(float));
        if (w < nr) memset(dst + w, 0, (size_t)(nr - w) * sizeof(float));
    }
}

// MARK: AVX2 + FMA: 6 rows × 16 columns, 12 accumulators.

enum { MR = 6, NR = 16 };

/// `rows` × `cols` elements of C (at most MR × NR) from `kc` steps over a packed panel of B,
/// where op(A)[i][p] is `a[i·rs + p·cs]`.
__attribute__((target("avx2,fma")))
static void tile_avx2(int kc, const float *a, long rs, long cs, const float *panel, float *c, int ldc,
                      int rows, int cols, int accumulate) {
    const float *ap[MR];
    for (int i = 0; i < MR; i++) ap[i] = a + (i < rows ? i : 0) * rs;
    int lanes[16];
    for (int j = 0; j < 16; j++) lanes[j] = j < cols ? -1 : 0;
    __m256i m0 = _mm256_loadu_si256((const __m256i *)lanes), m1 = _mm256_loadu_si256((const __m256i *)(lanes + 8));
    __m256 acc0[MR], acc1[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (accumulate && i < rows && cols == NR) {
            acc0[i] = _mm256_loadu_ps(c + (long)i * ldc);
            acc1[i] = _mm256_loadu_ps(c + (long)i * ldc + 8);
        } else if (accumulate && i < rows) {
            acc0[i] = _mm256_maskload_ps(c + (long)i * ldc, m0);
            acc1[i] = _mm256_maskload_ps(c + (long)i * ldc + 8, m1);
        } else {
            acc0[i] = _mm256_setzero_ps();
            acc1[i] = _mm256_setzero_ps();
        }
    }
    long offset = 0;
    for (int p = 0; p < kc; p++, offset += cs) {
        __m256 b0 = _mm256_load_ps(panel + (long)p * NR);
        __m256 b1 = _mm256_load_ps(panel + (long)p * NR + 8);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(ap[i] + offset);
            acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
        }
    }
    // A masked store is slow on some cores: only the last panel of a row uses it.
    if (cols == NR) {
        for (int i = 0; i < MR && i < rows; i++) {
            _mm256_storeu_ps(c + (long)i * ldc, acc0[i]);
            _mm256_storeu_ps(c + (long)i * ldc + 8, acc1[i]);
        }
    } else {
        for (int i = 0; i < MR && i < rows; i++) {
            _mm256_maskstore_ps(c + (long)i * ldc, m0, acc0[i]);
            _mm256_maskstore_ps(c + (long)i * ldc + 8, m1, acc1[i]);
        }
    }
}

// MARK: AVX2 + FMA, few columns: 16 rows × 4 columns, 8 accumulators, op(A) read transposed.

enum { CR = 16, CC = 4, NARROW = 8 };

/// Columns `cols` (at most CC) of C for `rows` (at most CR) rows from `kc` steps, where
/// op(A)[i][p] is `at[p·ats + i]` for i < CR (rows past `rows` are read and never stored).
__attribute__((target("avx2,fma")))
static void columns_avx2(int kc, const float *at, long ats, const float *b, int ldb, float *c, int ldc,
                         int rows, int cols, int accumulate) {
    const float *bp[CC];
    for (int j = 0; j < CC; j++) bp[j] = b + (j < cols ? j : 0);
    float start[CC][CR];
    for (int j = 0; j < CC; j++)
        for (int i = 0; i < CR; i++) start[j][i] = accumulate && i < rows && j < cols ? c[(long)i * ldc + j] : 0;
    __m256 acc0[CC], acc1[CC];
#pragma clang loop unroll(full)
    for (int j = 0; j < CC; j++) {
        acc0[j] = _mm256_loadu_ps(start[j]);
        acc1[j] = _mm256_loadu_ps(start[j] + 8);
    }
    for (int p = 0; p < kc; p++) {
        __m256 a0 = _mm256_loadu_ps(at + p * ats), a1 = _mm256_loadu_ps(at + p * ats + 8);
#pragma clang loop unroll(full)
        for (int j = 0; j < CC; j++) {
            __m256 bj = _mm256_broadcast_ss(bp[j] + (long)p * ldb);
            acc0[j] = _mm256_fmadd_ps(a0, bj, acc0[j]);
            acc1[j] = _mm256_fmadd_ps(a1, bj, acc1[j]);
        }
    }
#pragma clang loop unroll(full)
    for (int j = 0; j < CC; j++) {
        _mm256_storeu_ps(start[j], acc0[j]);
        _mm256_storeu_ps(start[j] + 8, acc1[j]);
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[(long)i * ldc + j] = start[j][i];
}

// MARK: Driver

static int have_avx2(void) {
    static int answer = -1;
    int known = __atomic_load_n(&answer, __ATOMIC_ACQUIRE);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        __atomic_store_n(&answer, known, __ATOMIC_RELEASE);
    }
    return known;
}

const char *ign_gemm_kernel(void) { return have_avx2() ? "avx2" : "scalar"; }

/// The tile kernel over all of C (n columns, the last panel zero-padded).
static void gemm_tiles(long rs, long cs, int m, int n, int k, const float *a, const float *b, int ldb,
                       float *c, int ldc, int accumulate) {
    int depth = k < KC ? k : KC;
    // A block of B (`depth` rows, up to `width` columns, as NR-wide panels) sized for L2.
    int width = (BLOCK_FLOATS / depth) / NR * NR;
    if (width < NR) width = NR;
    float *block = panel_buffer((size_t)depth * width);
    if (!block) abort();
    for (int j0 = 0; j0 < n; j0 += width) {
        int columns = n - j0 < width ? n - j0 : width;
        int panels = (columns + NR - 1) / NR;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int steps = k - p0 < KC ? k - p0 : KC;
            for (int q = 0; q < panels; q++) {
                int w = columns - q * NR < NR ? columns - q * NR : NR;
                pack_panel(b, ldb, p0, steps, j0 + q * NR, w, NR, block + (long)q * steps * NR);
            }
            for (int i0 = 0; i0 < m; i0 += MR) {
                int rows = m - i0 < MR ? m - i0 : MR;
                for (int q = 0; q < panels; q++) {
                    int w = columns - q * NR < NR ? columns - q * NR : NR;
                    tile_avx2(steps, a + i0 * rs + p0 * cs, rs, cs, block + (long)q * steps * NR,
                              c + (long)i0 * ldc + j0 + q * NR, ldc, rows, w, accumulate || p0 > 0);
                }
            }
        }
    }
}

/// The few-column kernel over all of C (n < NARROW columns): op(A) in CR-row blocks, read in
/// place when A is stored transposed and the block is whole, otherwise packed transposed.
static void gemm_columns(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                         float *c, int ldc, int accumulate) {
    int depth = k < KC ? k : KC;
    float *packed = panel_buffer((size_t)depth * CR);
    if (!packed) abort();
    for (int i0 = 0; i0 < m; i0 += CR) {
        int rows = m - i0 < CR ? m - i0 : CR;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int steps = k - p0 < KC ? k - p0 : KC;
            const float *at;
            long ats;
            if (trans_a && rows == CR) {
                at = a + (long)p0 * lda + i0;
                ats = lda;
            } else {
                for (int i = 0; i < CR; i++) {
                    int row = i0 + (i < rows ? i : 0);
                    if (trans_a) {
                        for (int p = 0; p < steps; p++) packed[p * CR + i] = a[(long)(p0 + p) * lda + row];
                    } else {
                        const float *src = a + (long)row * lda + p0;
                        for (int p = 0; p < steps; p++) packed[p * CR + i] = src[p];
                    }
                }
                at = packed;
                ats = CR;
            }
            for (int j0 = 0; j0 < n; j0 += CC) {
                int cols = n - j0 < CC ? n - j0 : CC;
                columns_avx2(steps, at, ats, b + (long)p0 * ldb + j0, ldb, c + (long)i0 * ldc + j0, ldc, rows, cols,
                             accumulate || p0 > 0);
            }
        }
    }
}

void ign_gemm(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
              float *c, int ldc, int accumulate) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate) for (int i = 0; i < m; i++) memset(c + (long)i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    if (!have_avx2()) {
        ign_gemm_reference(trans_a, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    long rs = trans_a ? 1 : lda, cs = trans_a ? lda : 1;
    // Whole panels go to the tile kernel, and so does a last partial one of at least NARROW
    // columns; fewer columns go to the few-column kernel rather than being padded.
    int rest = n % NR, wide = rest >= NARROW ? n : n - rest;
    if (wide > 0) gemm_tiles(rs, cs, m, wide, k, a, b, ldb, c, ldc, accumulate);
    if (wide < n) gemm_columns(trans_a, m, n - wide, k, a, lda, b + wide, ldb, c + wide, ldc, accumulate);
}

void ign_gemm_reference(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                        float *c, int ldc, int accumulate) {
    long rs = trans_a ? 1 : lda, cs = trans_a ? lda : 1;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = accumulate ? c[(long)i * ldc + j] : 0;
            for (int p = 0; p < k; p++) s = fmaf(a[i * rs + p * cs], b[(long)p * ldb + j], s);
            c[(long)i * ldc + j] = s;
        }
}
