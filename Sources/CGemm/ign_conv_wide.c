// A convolution with many output channels, computed without im2col.
//
// The im2col path writes k²·Cin floats of columns per output pixel, then the ordered GEMM copies
// them once more into panels before its register tile reads them. For a stride-1 convolution the
// panel is already in memory: the values a tap (c, ki, kj) contributes to a run of an output
// row's pixels are a contiguous run of input row oh + ki − p, starting kj − p pixels in. With
// stride s they are every s-th pixel of row s·oh + ki − p from s·ow + kj − p, which is a
// contiguous run again once each padded row is stored as its s phases (pixels q, q + s, q + 2s, …):
// phase kj mod s, from ow + kj div s. So the input is copied once into zero-padded rows, as phases
// (a band of output rows at a time, all channels), and a register tile of MR output channels × V
// vectors of pixels (AVX-512: 8 × 3·16, AVX2: 4 × 3·8) runs the whole chain over (c, ki, kj),
// loading its pixel vectors straight from the padded rows and broadcasting each output channel's
// weight. For one run of pixels every output channel's tile reads the same k rows of every
// channel, which then stay in L1.
//
// Each pixel's chain is the ordered GEMM's on im2col columns, term for term: (c, ki, kj) in that
// order, starting from 0, padding contributing fma(w, 0, ·) as im2col's zeros do; the bias is then
// added once, as the im2col path adds it after its product. So the results are the same bits.

#include "ign_gemm.h"
#include "ign_scratch.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

enum { WIDE_MAX_KERNEL = 16, WIDE_MAX_STRIDE = 4, BAND_ROWS = 4, SLACK = 16 };

/// A band of padded input rows and what a tile needs to find its operands.
struct band {
    const float *rows;   // channel c, band row r, phase q at rows + c·plane + r·row_len + q·phase_len
    long plane, row_len, phase_len;
    int channels, k, s;
    const float *weight;  // output channel o's chain at weight + o·depth
    long depth;
    const float *bias;    // or NULL
};

// MARK: AVX-512: 8 output channels × 16·V pixels.

enum { MR512 = 8 };

/// Output channels o0 ..< o0 + rows (at most MR512) of output row `oh` (band row `r`), pixels
/// j0 ..< j0 + cols (at most 16·V): `out[o]` is the start of output channel o's row.
__attribute__((target("avx512f"), always_inline))
static inline void tile_avx512(const struct band *b, int r, int o0, int rows, float *const *out, int j0, int cols,
                               const int k, const int s, const int V) {
    const float *w[MR512];
    for (int i = 0; i < MR512; i++) w[i] = b->weight + (long)(o0 + (i < rows ? i : 0)) * b->depth;
    __m512 acc[MR512][3];
    for (int i = 0; i < MR512; i++)
        for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();
    for (int c = 0; c < b->channels; c++) {
        const float *first = b->rows + c * b->plane + s * r * b->row_len + j0;
        const long tap0 = (long)c * k * k;
        for (int ki = 0; ki < k; ki++) {
            const float *row = first + ki * b->row_len;
            for (int kj = 0; kj < k; kj++) {
                __m512 x[3];
                const float *run = row + (kj % s) * b->phase_len + kj / s;
                for (int v = 0; v < V; v++) x[v] = _mm512_loadu_ps(run + 16 * v);
                const long tap = tap0 + ki * k + kj;
                for (int i = 0; i < MR512; i++) {
                    __m512 a = _mm512_set1_ps(w[i][tap]);
                    for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(a, x[v], acc[i][v]);
                }
            }
        }
    }
    for (int v = 0; v < V; v++) {
        int left = cols - 16 * v;
        __mmask16 mask = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        for (int i = 0; i < rows; i++) {
            __m512 y = b->bias ? _mm512_add_ps(acc[i][v], _mm512_set1_ps(b->bias[o0 + i])) : acc[i][v];
            _mm512_mask_storeu_ps(out[o0 + i] + j0 + 16 * v, mask, y);
        }
    }
}

// MARK: AVX2: 4 output channels × 8·V pixels.

enum { MR256 = 4 };

__attribute__((target("avx2,fma"), always_inline))
static inline void tile_avx2(const struct band *b, int r, int o0, int rows, float *const *out, int j0, int cols,
                             const int k, const int s, const int V) {
    const float *w[MR256];
    for (int i = 0; i < MR256; i++) w[i] = b->weight + (long)(o0 + (i < rows ? i : 0)) * b->depth;
    __m256 acc[MR256][3];
    for (int i = 0; i < MR256; i++)
        for (int v = 0; v < V; v++) acc[i][v] = _mm256_setzero_ps();
    for (int c = 0; c < b->channels; c++) {
        const float *first = b->rows + c * b->plane + s * r * b->row_len + j0;
        const long tap0 = (long)c * k * k;
        for (int ki = 0; ki < k; ki++) {
            const float *row = first + ki * b->row_len;
            for (int kj = 0; kj < k; kj++) {
                __m256 x[3];
                const float *run = row + (kj % s) * b->phase_len + kj / s;
                for (int v = 0; v < V; v++) x[v] = _mm256_loadu_ps(run + 8 * v);
                const long tap = tap0 + ki * k + kj;
                for (int i = 0; i < MR256; i++) {
                    __m256 a = _mm256_broadcast_ss(w[i] + tap);
                    for (int v = 0; v < V; v++) acc[i][v] = _mm256_fmadd_ps(a, x[v], acc[i][v]);
                }
            }
        }
    }
    for (int v = 0; v < V; v++) {
        int left = cols - 8 * v;
        if (left <= 0) break;
        for (int i = 0; i < rows; i++) {
            __m256 y = b->bias ? _mm256_add_ps(acc[i][v], _mm256_set1_ps(b->bias[o0 + i])) : acc[i][v];
            float *dst = out[o0 + i] + j0 + 8 * v;
            if (left >= 8) {
                _mm256_storeu_ps(dst, y);
            } else {
                float lanes[8];
                _mm256_storeu_ps(lanes, y);
                memcpy(dst, lanes, (size_t)left * sizeof(float));
            }
        }
    }
}

// MARK: Driver

/// One output row of `m` channels: runs of 3 vectors of pixels, then one run of 1 to 3 vectors for the rest.
typedef void (*row_kernel)(const struct band *b, int r, int m, float *const *out, int grid_w);

// One function per instruction set for the common kernels and strides (every tap loop unrolled),
// one for any other.
#define ROW(isa, target_attr, MR, LANES, K, S, name)                                                        \
    __attribute__((target(target_attr))) static void name(const struct band *b, int r, int m, float *const *out, \
                                                          int grid_w) {                                     \
        const int k = (K) > 0 ? (K) : b->k, s = (S) > 0 ? (S) : b->s;                                        \
        int j0 = 0;                                                                                          \
        for (; j0 + 3 * LANES <= grid_w; j0 += 3 * LANES)                                                    \
            for (int o0 = 0; o0 < m; o0 += MR)                                                               \
                tile_##isa(b, r, o0, m - o0 < MR ? m - o0 : MR, out, j0, 3 * LANES, k, s, 3);                \
        int left = grid_w - j0;                                                                              \
        for (int o0 = 0; left > 0 && o0 < m; o0 += MR) {                                                     \
            int rows = m - o0 < MR ? m - o0 : MR;                                                            \
            if (left > 2 * LANES) tile_##isa(b, r, o0, rows, out, j0, left, k, s, 3);                        \
            else if (left > LANES) tile_##isa(b, r, o0, rows, out, j0, left, k, s, 2);                       \
            else tile_##isa(b, r, o0, rows, out, j0, left, k, s, 1);                                         \
        }                                                                                                    \
    }
ROW(avx512, "avx512f", MR512, 16, 3, 1, row_avx512_k3s1)
ROW(avx512, "avx512f", MR512, 16, 1, 1, row_avx512_k1s1)
ROW(avx512, "avx512f", MR512, 16, 3, 2, row_avx512_k3s2)
ROW(avx512, "avx512f", MR512, 16, 4, 2, row_avx512_k4s2)
ROW(avx512, "avx512f", MR512, 16, 0, 0, row_avx512_any)
ROW(avx2, "avx2,fma", MR256, 8, 3, 1, row_avx2_k3s1)
ROW(avx2, "avx2,fma", MR256, 8, 1, 1, row_avx2_k1s1)
ROW(avx2, "avx2,fma", MR256, 8, 3, 2, row_avx2_k3s2)
ROW(avx2, "avx2,fma", MR256, 8, 4, 2, row_avx2_k4s2)
ROW(avx2, "avx2,fma", MR256, 8, 0, 0, row_avx2_any)

static row_kernel pick(int avx512, int k, int s) {
    if (k == 3 && s == 1) return avx512 ? row_avx512_k3s1 : row_avx2_k3s1;
    if (k == 1 && s == 1) return avx512 ? row_avx512_k1s1 : row_avx2_k1s1;
    if (k == 3 && s == 2) return avx512 ? row_avx512_k3s2 : row_avx2_k3s2;
    if (k == 4 && s == 2) return avx512 ? row_avx512_k4s2 : row_avx2_k4s2;
    return avx512 ? row_avx512_any : row_avx2_any;
}

/// This thread's band of padded rows.
static _Thread_local float *band_storage;
static _Thread_local size_t band_capacity;

int ign_conv_rows(int m, int channels, int kernel, int stride, int padding, const float *x, long channel_stride,
                  int height, int width, const float *weight, const float *bias, float *y, long out_channel_stride,
                  int row0, int row1) {
    if (m < 1 || stride < 1 || stride > WIDE_MAX_STRIDE || padding >= kernel || kernel > WIDE_MAX_KERNEL) return 0;
    const char *simd = ign_gemm_kernel();
    int avx512 = strcmp(simd, "avx512") == 0;
    if (!avx512 && strcmp(simd, "avx2") != 0) return 0;
    row_kernel run = pick(avx512, kernel, stride);
    if (row0 >= row1) return 1;
    int grid_w = (width + 2 * padding - kernel) / stride + 1;
    struct band b;
    b.channels = channels;
    b.k = kernel;
    b.s = stride;
    b.weight = weight;
    b.depth = (long)channels * kernel * kernel;
    b.bias = bias;
    // A phase of a padded row: its pixels q, q + s, … of (`padding` zeros, the input row, zeros),
    // up to past the last run's last read (at most a vector less one past the grid's end, plus
    // the taps' reach).
    b.phase_len = (grid_w + (kernel - 1) / stride + SLACK + 15) / 16 * 16;
    b.row_len = stride * b.phase_len;
    b.plane = (long)(stride * (BAND_ROWS - 1) + kernel) * b.row_len;
    float *rows = ign_scratch(&band_storage, &band_capacity, (size_t)channels * b.plane);
    b.rows = rows;
    float *out[m];
    for (int top = row0; top < row1; top += BAND_ROWS) {
        int bottom = row1 - top < BAND_ROWS ? row1 : top + BAND_ROWS;
        int band_rows = stride * (bottom - top - 1) + kernel;
        for (int c = 0; c < channels; c++) {
            for (int r = 0; r < band_rows; r++) {
                float *dst = rows + c * b.plane + r * b.row_len;
                int ih = stride * top + r - padding;
                const float *src = x + c * channel_stride + (long)ih * width;
                if (ih < 0 || ih >= height) {
                    memset(dst, 0, (size_t)b.row_len * sizeof(float));
                } else if (stride == 1) {
                    memset(dst, 0, (size_t)padding * sizeof(float));
                    memcpy(dst + padding, src, (size_t)width * sizeof(float));
                    memset(dst + padding + width, 0, (size_t)(b.row_len - padding - width) * sizeof(float));
                } else {
                    for (int q = 0; q < stride; q++) {
                        // Pixels t of this phase read input column s·t + q − p: zeros before
                        // column 0 and past the row's end, the row's every s-th pixel between.
                        float *phase = dst + q * b.phase_len;
                        long lo = q >= padding ? 0 : (padding - q + stride - 1) / stride;
                        long last = width - 1 + padding - q;
                        long hi = last < 0 ? 0 : last / stride + 1;
                        if (hi > b.phase_len) hi = b.phase_len;
                        if (hi < lo) hi = lo;
                        memset(phase, 0, (size_t)lo * sizeof(float));
                        const float *from = src + stride * lo + q - padding;
                        for (long t = 0; t < hi - lo; t++) phase[lo + t] = from[stride * t];
                        memset(phase + hi, 0, (size_t)(b.phase_len - hi) * sizeof(float));
                    }
                }
            }
        }
        for (int oh = top; oh < bottom; oh++) {
            for (int o = 0; o < m; o++) out[o] = y + o * out_channel_stride + (long)oh * grid_w;
            run(&b, oh - top, m, out, grid_w);
        }
    }
    return 1;
}
