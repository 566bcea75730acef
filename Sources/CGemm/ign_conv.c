// A stride-1 convolution with few output channels, computed without im2col.
//
// With one to four output channels the ordered GEMM over im2col columns is bound by writing and
// reading the columns (k²·Cin floats per output pixel for a few multiply-adds each). Here each
// output row is built straight from the input rows: for each input channel in turn, its k rows
// are copied once into zero-padded rows, and a run of the output row's pixels at a time (16·V
// with AVX-512, 8·V with AVX2, V registers per output channel) takes that channel's k² terms,
// every input vector loaded once for all output channels. Between channels the partial sums wait
// in the output row itself (storing a float and loading it back is exact), so the input rows and
// the output row stay in cache however wide the image.
//
// Each pixel's chain is the ordered GEMM's on im2col columns, term for term: (c, ki, kj) in that
// order, padding contributing fma(w, 0, ·) as im2col's zeros do. So the results are the same bits.

#include "ign_gemm.h"
#include "ign_scratch.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OUTPUTS = 4, MAX_KERNEL = 16, MAX_RUN = 64 };

/// One input channel's k rows, zero-padded (`padding` zeros on the left, then the row, then
/// zeros past the last run's end), and where the output rows are.
struct channel_rows {
    const float *rows[MAX_KERNEL];
    float *out[MAX_OUTPUTS];
    const float *weight;  // weight[o·depth + ki·k + kj] for this channel
    long depth;
    int grid_w;
    int m, k;  // output channels and kernel side
};

// MARK: AVX-512: 16·V pixels of a row at a time.

/// Adds one input channel's k² terms to the output rows, for `m` outputs and kernel `k`. m, k
/// and V are constants where it is inlined, so its loops unroll and the accumulators stay in registers.
__attribute__((target("avx512f"), always_inline))
static inline void terms_avx512(const struct channel_rows *r, const int m, const int k, const int V) {
    for (int ow0 = 0; ow0 < r->grid_w; ow0 += 16 * V) {
        __mmask16 mask[4];
        __m512 acc[MAX_OUTPUTS][4];
        for (int v = 0; v < V; v++) {
            int left = r->grid_w - ow0 - 16 * v;
            mask[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            for (int o = 0; o < m; o++) acc[o][v] = _mm512_maskz_loadu_ps(mask[v], r->out[o] + ow0 + 16 * v);
        }
        for (int ki = 0; ki < k; ki++) {
            const float *row = r->rows[ki] + ow0;
            for (int kj = 0; kj < k; kj++) {
                __m512 x[4];
                for (int v = 0; v < V; v++) x[v] = _mm512_loadu_ps(row + kj + 16 * v);
                for (int o = 0; o < m; o++) {
                    __m512 wo = _mm512_set1_ps(r->weight[o * r->depth + ki * k + kj]);
                    for (int v = 0; v < V; v++) acc[o][v] = _mm512_fmadd_ps(wo, x[v], acc[o][v]);
                }
            }
        }
        for (int v = 0; v < V; v++)
            for (int o = 0; o < m; o++) _mm512_mask_storeu_ps(r->out[o] + ow0 + 16 * v, mask[v], acc[o][v]);
    }
}

// MARK: AVX2: 8·V pixels of a row at a time.

/// The AVX2 `terms_avx512`; a run of fewer than 8·V pixels at the row's end goes through a copy on the stack.
__attribute__((target("avx2,fma"), always_inline))
static inline void terms_avx2(const struct channel_rows *r, const int m, const int k, const int V) {
    for (int ow0 = 0; ow0 < r->grid_w; ow0 += 8 * V) {
        int left = r->grid_w - ow0, whole = left >= 8 * V;
        float partial[MAX_OUTPUTS][32];
        float *at[MAX_OUTPUTS];
        __m256 acc[MAX_OUTPUTS][4];
        for (int o = 0; o < m; o++) {
            at[o] = r->out[o] + ow0;
            if (!whole) {
                memcpy(partial[o], at[o], (size_t)left * sizeof(float));
                at[o] = partial[o];
            }
            for (int v = 0; v < V; v++) acc[o][v] = _mm256_loadu_ps(at[o] + 8 * v);
        }
        for (int ki = 0; ki < k; ki++) {
            const float *row = r->rows[ki] + ow0;
            for (int kj = 0; kj < k; kj++) {
                __m256 x[4];
                for (int v = 0; v < V; v++) x[v] = _mm256_loadu_ps(row + kj + 8 * v);
                for (int o = 0; o < m; o++) {
                    __m256 wo = _mm256_broadcast_ss(r->weight + o * r->depth + ki * k + kj);
                    for (int v = 0; v < V; v++) acc[o][v] = _mm256_fmadd_ps(wo, x[v], acc[o][v]);
                }
            }
        }
        for (int o = 0; o < m; o++) {
            for (int v = 0; v < V; v++) _mm256_storeu_ps(at[o] + 8 * v, acc[o][v]);
            if (!whole) memcpy(r->out[o] + ow0, partial[o], (size_t)left * sizeof(float));
        }
    }
}

// MARK: Driver

typedef void (*channel_terms)(const struct channel_rows *);

// One function per instruction set and output count for 3×3 kernels (the common case, every loop
// unrolled), and one per instruction set for any other kernel. V: as many pixel vectors as leave
// registers for the inputs (AVX-512 has 32, AVX2 16).
#define TERMS(isa, target_attr, M, V)                                                                       \
    __attribute__((target(target_attr))) static void terms_##isa##_m##M##_k3(const struct channel_rows *r) { \
        terms_##isa(r, M, 3, V);                                                                             \
    }
TERMS(avx512, "avx512f", 1, 4) TERMS(avx512, "avx512f", 2, 4) TERMS(avx512, "avx512f", 3, 4) TERMS(avx512, "avx512f", 4, 4)
TERMS(avx2, "avx2,fma", 1, 4) TERMS(avx2, "avx2,fma", 2, 4) TERMS(avx2, "avx2,fma", 3, 3) TERMS(avx2, "avx2,fma", 4, 2)

__attribute__((target("avx512f")))
static void terms_avx512_any(const struct channel_rows *r) { terms_avx512(r, r->m, r->k, 2); }

__attribute__((target("avx2,fma")))
static void terms_avx2_any(const struct channel_rows *r) { terms_avx2(r, r->m, r->k, 2); }

static const channel_terms terms_avx512_k3[] = {terms_avx512_m1_k3, terms_avx512_m2_k3, terms_avx512_m3_k3, terms_avx512_m4_k3};
static const channel_terms terms_avx2_k3[] = {terms_avx2_m1_k3, terms_avx2_m2_k3, terms_avx2_m3_k3, terms_avx2_m4_k3};

/// This thread's buffer for the padded rows.
static _Thread_local float *padded_storage;
static _Thread_local size_t padded_capacity;

int ign_conv_direct(int m, int channels, int kernel, int padding, const float *x, long channel_stride,
                    int height, int width, const float *weight, float *y, long out_channel_stride, int row0, int row1) {
    if (m < 1 || m > MAX_OUTPUTS || padding >= kernel || kernel > MAX_KERNEL) return 0;
    const char *simd = ign_gemm_kernel();
    channel_terms terms;
    if (strcmp(simd, "avx512") == 0) terms = kernel == 3 ? terms_avx512_k3[m - 1] : terms_avx512_any;
    else if (strcmp(simd, "avx2") == 0) terms = kernel == 3 ? terms_avx2_k3[m - 1] : terms_avx2_any;
    else return 0;
    if (row0 >= row1) return 1;
    struct channel_rows r;
    r.m = m;
    r.k = kernel;
    r.grid_w = width + 2 * padding - kernel + 1;
    r.depth = (long)channels * kernel * kernel;
    // A padded row: `padding` zeros, the row, then zeros up to the last run's last read.
    long stride = padding + width + MAX_RUN + MAX_KERNEL;
    float *pad = ign_scratch(&padded_storage, &padded_capacity, (size_t)stride * kernel);
    for (int oh = row0; oh < row1; oh++) {
        for (int o = 0; o < m; o++) {
            r.out[o] = y + o * out_channel_stride + (long)oh * r.grid_w;
            memset(r.out[o], 0, (size_t)r.grid_w * sizeof(float));
        }
        for (int c = 0; c < channels; c++) {
            for (int ki = 0; ki < kernel; ki++) {
                float *row = pad + ki * stride;
                int ih = oh + ki - padding;
                if (ih >= 0 && ih < height) {
                    memset(row, 0, (size_t)padding * sizeof(float));
                    memcpy(row + padding, x + c * channel_stride + (long)ih * width, (size_t)width * sizeof(float));
                    memset(row + padding + width, 0, (size_t)(stride - padding - width) * sizeof(float));
                } else {
                    memset(row, 0, (size_t)stride * sizeof(float));
                }
                r.rows[ki] = row;
            }
            r.weight = weight + (long)c * kernel * kernel;
            terms(&r);
        }
    }
    return 1;
}
