// A small GEMM whose every output element is one fused multiply-add chain in k order.
//
// Most of C: B is packed in blocks of KC rows × up to BLOCK_FLOATS/KC columns, as NR-wide panels
// zero-padded past n. For each block of MR rows of op(A), a register tile of MR×NR
// accumulators (AVX-512: 12×32, AVX2: 6×16; on AVX-512 the AVX2 tile takes a last group of at most 16
// columns) runs each panel's KC steps (C is stored and reloaded between KC blocks, which
// is exact). Rows past m read row 0 of the block and are never stored; columns past n are
// zeros in the panel and never stored.
// The last few columns of a product (fewer than NARROW) run instead through a kernel that
// vectorises over rows of op(A), so a one-column product costs what a GEMV does.
// Nothing in an element's arithmetic depends on where the element lies or which kernel ran.

#include "ign_gemm.h"
#include "ign_scratch.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/// Rows of B per pass over a tile (its A rows then stay in L1) and floats of B per block (L2).
enum { KC = 512, BLOCK_FLOATS = 32 * 1024 };

static _Thread_local float *panel_storage;
static _Thread_local size_t panel_capacity;

/// Columns j0 ..< j0 + w of rows p0 ..< p0 + kc of B into `out[p][nr]`, zeros past w.
static void pack_panel(const float *b, int ldb, int p0, int kc, int j0, int w, int nr, float *out) {
    for (int p = 0; p < kc; p++) {
        const float *row = b + (long)(p0 + p) * ldb + j0;
        float *dst = out + (long)p * nr;
        memcpy(dst, row, (size_t)w * sizeof(float));
        if (w < nr) memset(dst + w, 0, (size_t)(nr - w) * sizeof(float));
    }
}

/// `rows` × `cols` elements of C (at most the kernel's MR × NR) from `kc` steps over a packed
/// panel of B, where op(A)[i][p] is `a[i·rs + p·cs]`.
typedef void (*tile_kernel)(int kc, const float *a, long rs, long cs, const float *panel, float *c, int ldc,
                            int rows, int cols, int accumulate);

// MARK: AVX-512: 12 rows × 32 columns, 24 accumulators.

enum { MR512 = 12, NR512 = 32 };

__attribute__((target("avx512f")))
static void tile_avx512(int kc, const float *a, long rs, long cs, const float *panel, float *c, int ldc,
                        int rows, int cols, int accumulate) {
    const float *ap[MR512];
    for (int i = 0; i < MR512; i++) ap[i] = a + (i < rows ? i : 0) * rs;
    __mmask16 k0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 k1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 acc0[MR512], acc1[MR512];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR512; i++) {
        if (accumulate && i < rows) {
            acc0[i] = _mm512_maskz_loadu_ps(k0, c + (long)i * ldc);
            acc1[i] = _mm512_maskz_loadu_ps(k1, c + (long)i * ldc + 16);
        } else {
            acc0[i] = _mm512_setzero_ps();
            acc1[i] = _mm512_setzero_ps();
        }
    }
    long offset = 0;
    for (int p = 0; p < kc; p++, offset += cs) {
        __m512 b0 = _mm512_load_ps(panel + (long)p * NR512);
        __m512 b1 = _mm512_load_ps(panel + (long)p * NR512 + 16);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR512; i++) {
            __m512 ai = _mm512_set1_ps(ap[i][offset]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
    }
    for (int i = 0; i < MR512 && i < rows; i++) {
        _mm512_mask_storeu_ps(c + (long)i * ldc, k0, acc0[i]);
        _mm512_mask_storeu_ps(c + (long)i * ldc + 16, k1, acc1[i]);
    }
}

// MARK: AVX2 + FMA: 6 rows × 16 columns, 12 accumulators.

enum { MR = 6, NR = 16 };

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

// MARK: AVX2 + FMA, few columns: 8 accumulators over op(A) read transposed, either 64 rows ×
// 1 column or 16 rows × up to 4 columns (8 independent chains hide the FMA latency).

enum { NARROW = 8, MAX_VECTORS = 8 };

/// Columns `cols` (at most `width`) of C for `rows` (at most 8·`vectors`) rows from `kc` steps,
/// where op(A)[i][p] is `at[p·ats + i]` for i < 8·vectors (rows past `rows` are read and never
/// stored). `vectors` × `width` is 8.
__attribute__((target("avx2,fma"), always_inline))
static inline void columns_avx2(int vectors, int width, int kc, const float *at, long ats, const float *b, int ldb,
                                float *c, int ldc, int rows, int cols, int accumulate) {
    const float *bp[4];
    for (int j = 0; j < width; j++) bp[j] = b + (j < cols ? j : 0);
    float start[4][8 * MAX_VECTORS];
    for (int j = 0; j < width; j++)
        for (int i = 0; i < 8 * vectors; i++) start[j][i] = accumulate && i < rows && j < cols ? c[(long)i * ldc + j] : 0;
    __m256 acc[4][MAX_VECTORS];
    for (int j = 0; j < width; j++)
        for (int v = 0; v < vectors; v++) acc[j][v] = _mm256_loadu_ps(start[j] + 8 * v);
    for (int p = 0; p < kc; p++) {
        __m256 av[MAX_VECTORS];
        for (int v = 0; v < vectors; v++) av[v] = _mm256_loadu_ps(at + p * ats + 8 * v);
        for (int j = 0; j < width; j++) {
            __m256 bj = _mm256_broadcast_ss(bp[j] + (long)p * ldb);
            for (int v = 0; v < vectors; v++) acc[j][v] = _mm256_fmadd_ps(av[v], bj, acc[j][v]);
        }
    }
    for (int j = 0; j < width; j++)
        for (int v = 0; v < vectors; v++) _mm256_storeu_ps(start[j] + 8 * v, acc[j][v]);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[(long)i * ldc + j] = start[j][i];
}

__attribute__((target("avx2,fma")))
static void column_avx2(int kc, const float *at, long ats, const float *b, int ldb, float *c, int ldc, int rows,
                        int accumulate) {
    columns_avx2(8, 1, kc, at, ats, b, ldb, c, ldc, rows, 1, accumulate);
}

__attribute__((target("avx2,fma")))
static void four_columns_avx2(int kc, const float *at, long ats, const float *b, int ldb, float *c, int ldc, int rows,
                              int cols, int accumulate) {
    columns_avx2(2, 4, kc, at, ats, b, ldb, c, ldc, rows, cols, accumulate);
}

/// Rows i0 ..< i0 + block (those past `rows` repeat row i0) of a row-major A, columns p0 ..<
/// p0 + steps, transposed into `packed[p][block]`: 8×8 tiles through registers.
__attribute__((target("avx2,fma")))
static void pack_transposed_avx2(const float *a, int lda, int i0, int rows, int p0, int steps, int block, float *packed) {
    for (int g = 0; g < block; g += 8) {
        const float *r[8];
        for (int q = 0; q < 8; q++) r[q] = a + (long)(i0 + (g + q < rows ? g + q : 0)) * lda + p0;
        int p = 0;
        for (; p + 8 <= steps; p += 8) {
            __m256 t0 = _mm256_unpacklo_ps(_mm256_loadu_ps(r[0] + p), _mm256_loadu_ps(r[1] + p));
            __m256 t1 = _mm256_unpackhi_ps(_mm256_loadu_ps(r[0] + p), _mm256_loadu_ps(r[1] + p));
            __m256 t2 = _mm256_unpacklo_ps(_mm256_loadu_ps(r[2] + p), _mm256_loadu_ps(r[3] + p));
            __m256 t3 = _mm256_unpackhi_ps(_mm256_loadu_ps(r[2] + p), _mm256_loadu_ps(r[3] + p));
            __m256 t4 = _mm256_unpacklo_ps(_mm256_loadu_ps(r[4] + p), _mm256_loadu_ps(r[5] + p));
            __m256 t5 = _mm256_unpackhi_ps(_mm256_loadu_ps(r[4] + p), _mm256_loadu_ps(r[5] + p));
            __m256 t6 = _mm256_unpacklo_ps(_mm256_loadu_ps(r[6] + p), _mm256_loadu_ps(r[7] + p));
            __m256 t7 = _mm256_unpackhi_ps(_mm256_loadu_ps(r[6] + p), _mm256_loadu_ps(r[7] + p));
            __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
            float *dst = packed + (long)p * block + g;
            _mm256_storeu_ps(dst + 0 * block, _mm256_permute2f128_ps(s0, s4, 0x20));
            _mm256_storeu_ps(dst + 1 * block, _mm256_permute2f128_ps(s1, s5, 0x20));
            _mm256_storeu_ps(dst + 2 * block, _mm256_permute2f128_ps(s2, s6, 0x20));
            _mm256_storeu_ps(dst + 3 * block, _mm256_permute2f128_ps(s3, s7, 0x20));
            _mm256_storeu_ps(dst + 4 * block, _mm256_permute2f128_ps(s0, s4, 0x31));
            _mm256_storeu_ps(dst + 5 * block, _mm256_permute2f128_ps(s1, s5, 0x31));
            _mm256_storeu_ps(dst + 6 * block, _mm256_permute2f128_ps(s2, s6, 0x31));
            _mm256_storeu_ps(dst + 7 * block, _mm256_permute2f128_ps(s3, s7, 0x31));
        }
        for (; p < steps; p++)
            for (int q = 0; q < 8; q++) packed[(long)p * block + g + q] = r[q][p];
    }
}

// MARK: Driver

/// The kernels this CPU can run, best first.
enum kernel { KERNEL_AVX512, KERNEL_AVX2, KERNEL_SCALAR };
static const char *const kernel_names[] = {"avx512", "avx2", "scalar"};

static int supported(enum kernel kernel) {
    __builtin_cpu_init();
    switch (kernel) {
    case KERNEL_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KERNEL_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KERNEL_SCALAR: return 1;
    }
    return 0;
}

/// The kernel in use: -1 until the first call picks the best one.
static int selected = -1;

/// The best kernel this CPU runs, or the one the environment variable IGN_SIMD names (avx2 or
/// scalar on an AVX-512 machine: to measure what machines without it do) when the CPU has it.
static enum kernel current_kernel(void) {
    int known = __atomic_load_n(&selected, __ATOMIC_ACQUIRE);
    if (known < 0) {
        known = KERNEL_AVX512;
        while (!supported((enum kernel)known)) known++;
        const char *asked = getenv("IGN_SIMD");
        for (int kernel = known; asked && kernel <= KERNEL_SCALAR; kernel++)
            if (strcmp(asked, kernel_names[kernel]) == 0) known = kernel;
        __atomic_store_n(&selected, known, __ATOMIC_RELEASE);
    }
    return (enum kernel)known;
}

const char *ign_gemm_kernel(void) { return kernel_names[current_kernel()]; }

int ign_gemm_use_kernel(const char *name) {
    for (int kernel = KERNEL_AVX512; kernel <= KERNEL_SCALAR; kernel++) {
        if (strcmp(name, kernel_names[kernel]) == 0 && supported((enum kernel)kernel)) {
            __atomic_store_n(&selected, kernel, __ATOMIC_RELEASE);
            return 1;
        }
    }
    return 0;
}

/// A tile kernel (`mr` × `nr`) over all of C (n columns, the last panel zero-padded).
static void gemm_tiles(tile_kernel tile, int mr, int nr, long rs, long cs, int m, int n, int k, const float *a,
                       const float *b, int ldb, float *c, int ldc, int accumulate) {
    int depth = k < KC ? k : KC;
    // A block of B (`depth` rows, up to `width` columns, as nr-wide panels) sized for L2.
    int width = (BLOCK_FLOATS / depth) / nr * nr;
    if (width < nr) width = nr;
    float *block = ign_scratch(&panel_storage, &panel_capacity, (size_t)depth * width);
    for (int j0 = 0; j0 < n; j0 += width) {
        int columns = n - j0 < width ? n - j0 : width;
        int panels = (columns + nr - 1) / nr;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int steps = k - p0 < KC ? k - p0 : KC;
            for (int q = 0; q < panels; q++) {
                int w = columns - q * nr < nr ? columns - q * nr : nr;
                pack_panel(b, ldb, p0, steps, j0 + q * nr, w, nr, block + (long)q * steps * nr);
            }
            for (int i0 = 0; i0 < m; i0 += mr) {
                int rows = m - i0 < mr ? m - i0 : mr;
                for (int q = 0; q < panels; q++) {
                    int w = columns - q * nr < nr ? columns - q * nr : nr;
                    tile(steps, a + i0 * rs + p0 * cs, rs, cs, block + (long)q * steps * nr,
                         c + (long)i0 * ldc + j0 + q * nr, ldc, rows, w, accumulate || p0 > 0);
                }
            }
        }
    }
}

/// The few-column kernel over all of C (n < NARROW columns): op(A) in blocks of rows, read in
/// place when A is stored transposed and the block is whole, otherwise packed transposed.
static void gemm_columns(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                         float *c, int ldc, int accumulate) {
    int block = n == 1 ? 64 : 16;
    int depth = k < KC ? k : KC;
    float *packed = ign_scratch(&panel_storage, &panel_capacity, (size_t)depth * block);
    for (int i0 = 0; i0 < m; i0 += block) {
        int rows = m - i0 < block ? m - i0 : block;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int steps = k - p0 < KC ? k - p0 : KC;
            const float *at;
            long ats;
            if (trans_a && rows == block) {
                at = a + (long)p0 * lda + i0;
                ats = lda;
            } else {
                if (trans_a) {
                    for (int p = 0; p < steps; p++)
                        for (int i = 0; i < block; i++)
                            packed[p * block + i] = a[(long)(p0 + p) * lda + i0 + (i < rows ? i : 0)];
                } else {
                    pack_transposed_avx2(a, lda, i0, rows, p0, steps, block, packed);
                }
                at = packed;
                ats = block;
            }
            for (int j0 = 0; j0 < n; j0 += 4) {
                int cols = n - j0 < 4 ? n - j0 : 4;
                const float *bj = b + (long)p0 * ldb + j0;
                float *cj = c + (long)i0 * ldc + j0;
                if (n == 1) column_avx2(steps, at, ats, bj, ldb, cj, ldc, rows, accumulate || p0 > 0);
                else four_columns_avx2(steps, at, ats, bj, ldb, cj, ldc, rows, cols, accumulate || p0 > 0);
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
    enum kernel kernel = current_kernel();
    if (kernel == KERNEL_SCALAR) {
        ign_gemm_reference(trans_a, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        return;
    }
    long rs = trans_a ? 1 : lda, cs = trans_a ? lda : 1;
    // Whole 16-column groups go to the tile kernel, and so does a last partial one of at least
    // NARROW columns; fewer columns go to the few-column kernel rather than being padded.
    int rest = n % 16, wide = rest >= NARROW ? n : n - rest;
    // On AVX-512, 32-wide panels, except a last group of at most 16 columns: the 32-wide tile
    // would compute it twice over, and the AVX2 tile does it as fast as a 16-wide AVX-512 one (measured).
    int whole = kernel == KERNEL_AVX512 && wide % NR512 > 0 && wide % NR512 <= NR ? wide - wide % NR512 : wide;
    if (whole > 0) {
        if (kernel == KERNEL_AVX512) gemm_tiles(tile_avx512, MR512, NR512, rs, cs, m, whole, k, a, b, ldb, c, ldc, accumulate);
        else gemm_tiles(tile_avx2, MR, NR, rs, cs, m, whole, k, a, b, ldb, c, ldc, accumulate);
    }
    if (whole < wide) gemm_tiles(tile_avx2, MR, NR, rs, cs, m, wide - whole, k, a, b + whole, ldb, c + whole, ldc, accumulate);
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
