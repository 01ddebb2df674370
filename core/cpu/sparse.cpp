// Sparse weight x dense activation on the CPU (cpu::csr_linear, cpu::csr_conv2d).
//
// Everything is one product: Y[r, j] = act(bias[r] + sum_k val[k] * B[off[k] + j]) over the
// nonzeros k of weight row r, for output columns j. off[k] is where the dense row that nonzero k
// multiplies starts, computed once per call, so the same inner loop serves
//  - a linear layer at batch n >= kMinSpmmBatch: B = xᵀ [cols, n] (packed so the loop over the batch
//    is contiguous), off[k] = col[k] * n; the result [rows, n] is transposed back;
//  - a 1 x 1 convolution (stride 1, no padding): B = one image [C, H W], off[k] = col[k] * H W;
//  - a k x k convolution ("implicit", sparse_impl.h): with stride 1, B = the image padded to
//    [C, Hp, Wp], off[k] = c Hp Wp + ky d Wp + kx d; columns are output pixels on the padded width.
//    With stride s, B holds s x s phase planes of the padded image per channel (every s-th pixel
//    from each offset), on which the convolution is again a stride-1 sum of shifted planes;
//  - any other convolution: B = im2col's [C kh kw, Ho Wo], off[k] = col[k] Ho Wo.
// A linear layer at batch 1 (to 3) is a sparse matrix-vector product with gathers instead.
//
// The inner loop keeps 64 columns of one row in 4 vector registers (AVX-512; 32 in AVX2) with two
// sets of accumulators over alternate nonzeros, then adds bias and applies the activation before
// the single store. With AVX-512, convolutions on planes of up to 256 grid columns run the
// convolution tiles instead (conv_tile_avx512: up to 128 columns of a row in registers, one pass
// over its nonzeros). Work is split into tiles of rows x columns; each output element is computed by
// one tile in a fixed order, so results do not depend on the thread count or the schedule (which
// is dynamic: rows differ in their number of nonzeros).
//
// Measured (trim-bench --shapes sparse --threads 1 --batch 1, best of 11 interleaved runs on the
// loaded 2-core build machine): ResNet-50's 3x3 64->64 at 56x56 takes 0.49 / 0.24 ms implicit
// against 1.80 / 0.56 ms with im2col at 90 / 95% zeros (im2col writes 9x the input, padding writes
// it once); at 14x14 (256->256) the two are within noise (0.90 / 0.50 against 0.81 / 0.52 ms),
// the wide grid there wasting 2 of 16 columns. At batch 64 (one image per thread) the 56x56 layer
// takes 83 / 51 ms implicit against 133 / 87 ms im2col. Implicit is the default.
#include <immintrin.h>
#include <omp.h>

// GCC 12 reports its own _mm512_undefined_ps() (inside the AVX-512 intrinsics) as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu/conv_impl.h"
#include "core/cpu/parallel.h"
#include "core/cpu/sparse_impl.h"
#include "core/error.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {
namespace {

// Below this batch a linear layer gathers from x per sample rather than packing xᵀ.
constexpr int64_t kMinSpmmBatch = 4;
// Below this many multiply-adds a product runs on the calling thread.
constexpr int64_t kParallelWork = 1 << 15;

struct Csr {
  const int32_t* ptr;
  const int32_t* col;
  const float* val;
  int64_t rows;
};

// Rows [r0, r1) and columns [j0, j1) of Y.
struct Tile {
  int64_t r0, r1, j0, j1;
};

// Y[r, j] (row stride ldy) for the tile; off: per nonzero, the start of its row of B. R (null:
// none) is a residual laid out as Y, added before the activation.
using SpmmFn = void (*)(const Csr& a, const int64_t* off, const float* B, const float* bias, Epilogue act,
                        const float* R, float* Y, int64_t ldy, Tile t);
// sum_k val[k] * x[col[k]] over k < len.
using DotFn = float (*)(const int32_t* col, const float* val, int64_t len, const float* x);

// ---------------------------------------------------------------- scalar
void spmm_scalar(const Csr& a, const int64_t* off, const float* B, const float* bias, Epilogue act, const float* R,
                 float* Y, int64_t ldy, Tile t) {
  for (int64_t r = t.r0; r < t.r1; ++r) {
    float* y = Y + r * ldy;
    const float* res = R ? R + r * ldy : nullptr;
    const float b = bias ? bias[r] : 0.0f;
    for (int64_t j = t.j0; j < t.j1; ++j) y[j] = b;
    for (int32_t k = a.ptr[r]; k < a.ptr[r + 1]; ++k) {
      const float v = a.val[k];
      const float* src = B + off[k];
      for (int64_t j = t.j0; j < t.j1; ++j) y[j] += v * src[j];
    }
    for (int64_t j = t.j0; j < t.j1; ++j) y[j] = apply_epilogue(act, res ? y[j] + res[j] : y[j]);
  }
}

float dot_scalar(const int32_t* col, const float* val, int64_t len, const float* x) {
  float s0 = 0.0f, s1 = 0.0f;
  int64_t k = 0;
  for (; k + 2 <= len; k += 2) {
    s0 += val[k] * x[col[k]];
    s1 += val[k + 1] * x[col[k + 1]];
  }
  if (k < len) s0 += val[k] * x[col[k]];
  return s0 + s1;
}

// ---------------------------------------------------------------- AVX2 + FMA
#define TRIM_AVX2 __attribute__((target("avx2,fma")))

TRIM_AVX2 inline __m256 act256(__m256 v, Epilogue act) {
  if (act == Epilogue::none) return v;
  v = _mm256_max_ps(v, _mm256_setzero_ps());
  return act == Epilogue::relu6 ? _mm256_min_ps(v, _mm256_set1_ps(6.0f)) : v;
}

// Lanes [0, n) of a 256-bit mask, n in [0, 8].
TRIM_AVX2 inline __m256i mask256(int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane);
}

// v + res[0, 8) (res null: v).
TRIM_AVX2 inline __m256 plus256(__m256 v, const float* res) { return res ? _mm256_add_ps(v, _mm256_loadu_ps(res)) : v; }

TRIM_AVX2 void spmm_avx2(const Csr& a, const int64_t* off, const float* B, const float* bias, Epilogue act,
                         const float* R, float* Y, int64_t ldy, Tile t) {
  for (int64_t r = t.r0; r < t.r1; ++r) {
    float* y = Y + r * ldy;
    const float* res = R ? R + r * ldy : nullptr;
    const __m256 b = _mm256_set1_ps(bias ? bias[r] : 0.0f);
    const int32_t kb = a.ptr[r], ke = a.ptr[r + 1];
    int64_t j = t.j0;
    for (; j + 32 <= t.j1; j += 32) {
      __m256 a0 = b, a1 = b, a2 = b, a3 = b;
      __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
      int32_t k = kb;
      for (; k + 2 <= ke; k += 2) {
        const __m256 v0 = _mm256_set1_ps(a.val[k]), v1 = _mm256_set1_ps(a.val[k + 1]);
        const float* s0 = B + off[k] + j;
        const float* s1 = B + off[k + 1] + j;
        a0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0), a0);
        a1 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0 + 8), a1);
        a2 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0 + 16), a2);
        a3 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0 + 24), a3);
        c0 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(s1), c0);
        c1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(s1 + 8), c1);
        c2 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(s1 + 16), c2);
        c3 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(s1 + 24), c3);
      }
      if (k < ke) {
        const __m256 v0 = _mm256_set1_ps(a.val[k]);
        const float* s0 = B + off[k] + j;
        a0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0), a0);
        a1 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0 + 8), a1);
        a2 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0 + 16), a2);
        a3 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(s0 + 24), a3);
      }
      _mm256_storeu_ps(y + j, act256(plus256(_mm256_add_ps(a0, c0), res ? res + j : nullptr), act));
      _mm256_storeu_ps(y + j + 8, act256(plus256(_mm256_add_ps(a1, c1), res ? res + j + 8 : nullptr), act));
      _mm256_storeu_ps(y + j + 16, act256(plus256(_mm256_add_ps(a2, c2), res ? res + j + 16 : nullptr), act));
      _mm256_storeu_ps(y + j + 24, act256(plus256(_mm256_add_ps(a3, c3), res ? res + j + 24 : nullptr), act));
    }
    for (; j < t.j1; j += 8) {  // the tail, 8 (or fewer, masked) columns at a time
      const __m256i m = mask256(std::min<int64_t>(8, t.j1 - j));
      __m256 acc = b;
      for (int32_t k = kb; k < ke; ++k)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a.val[k]), _mm256_maskload_ps(B + off[k] + j, m), acc);
      if (res) acc = _mm256_add_ps(acc, _mm256_maskload_ps(res + j, m));
      _mm256_maskstore_ps(y + j, m, act256(acc, act));
    }
  }
}

TRIM_AVX2 float dot_avx2(const int32_t* col, const float* val, int64_t len, const float* x) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= len; k += 16) {
    const __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + k));
    const __m256i i1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + k + 8));
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k), _mm256_i32gather_ps(x, i0, 4), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(val + k + 8), _mm256_i32gather_ps(x, i1, 4), s1);
  }
  __m256 s = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float tail = 0.0f;
  for (; k < len; ++k) tail += val[k] * x[col[k]];
  return _mm_cvtss_f32(h) + tail;
}

// ---------------------------------------------------------------- AVX-512F
#define TRIM_AVX512 __attribute__((target("avx512f")))

TRIM_AVX512 inline __m512 act512(__m512 v, Epilogue act) {
  if (act == Epilogue::none) return v;
  v = _mm512_max_ps(v, _mm512_setzero_ps());
  return act == Epilogue::relu6 ? _mm512_min_ps(v, _mm512_set1_ps(6.0f)) : v;
}

TRIM_AVX512 inline __mmask16 mask512(int64_t n) {  // lanes [0, n), n in [0, 16]
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
}

// v + res[0, 16) (res null: v).
TRIM_AVX512 inline __m512 plus512(__m512 v, const float* res) { return res ? _mm512_add_ps(v, _mm512_loadu_ps(res)) : v; }

TRIM_AVX512 void spmm_avx512(const Csr& a, const int64_t* off, const float* B, const float* bias, Epilogue act,
                             const float* R, float* Y, int64_t ldy, Tile t) {
  for (int64_t r = t.r0; r < t.r1; ++r) {
    float* y = Y + r * ldy;
    const float* res = R ? R + r * ldy : nullptr;
    const __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
    const int32_t kb = a.ptr[r], ke = a.ptr[r + 1];
    int64_t j = t.j0;
    for (; j + 64 <= t.j1; j += 64) {
      __m512 a0 = b, a1 = b, a2 = b, a3 = b;
      __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
      int32_t k = kb;
      for (; k + 2 <= ke; k += 2) {
        const __m512 v0 = _mm512_set1_ps(a.val[k]), v1 = _mm512_set1_ps(a.val[k + 1]);
        const float* s0 = B + off[k] + j;
        const float* s1 = B + off[k + 1] + j;
        a0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0), a0);
        a1 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 16), a1);
        a2 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 32), a2);
        a3 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 48), a3);
        c0 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(s1), c0);
        c1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(s1 + 16), c1);
        c2 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(s1 + 32), c2);
        c3 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(s1 + 48), c3);
      }
      if (k < ke) {
        const __m512 v0 = _mm512_set1_ps(a.val[k]);
        const float* s0 = B + off[k] + j;
        a0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0), a0);
        a1 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 16), a1);
        a2 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 32), a2);
        a3 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 48), a3);
      }
      _mm512_storeu_ps(y + j, act512(plus512(_mm512_add_ps(a0, c0), res ? res + j : nullptr), act));
      _mm512_storeu_ps(y + j + 16, act512(plus512(_mm512_add_ps(a1, c1), res ? res + j + 16 : nullptr), act));
      _mm512_storeu_ps(y + j + 32, act512(plus512(_mm512_add_ps(a2, c2), res ? res + j + 32 : nullptr), act));
      _mm512_storeu_ps(y + j + 48, act512(plus512(_mm512_add_ps(a3, c3), res ? res + j + 48 : nullptr), act));
    }
    for (; j < t.j1; j += 16) {  // the tail, 16 (or fewer, masked) columns at a time
      const __mmask16 m = mask512(t.j1 - j);
      __m512 acc = b, acc2 = _mm512_setzero_ps();
      int32_t k = kb;
      for (; k + 2 <= ke; k += 2) {
        acc = _mm512_fmadd_ps(_mm512_set1_ps(a.val[k]), _mm512_maskz_loadu_ps(m, B + off[k] + j), acc);
        acc2 = _mm512_fmadd_ps(_mm512_set1_ps(a.val[k + 1]), _mm512_maskz_loadu_ps(m, B + off[k + 1] + j), acc2);
      }
      if (k < ke) acc = _mm512_fmadd_ps(_mm512_set1_ps(a.val[k]), _mm512_maskz_loadu_ps(m, B + off[k] + j), acc);
      if (res) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, res + j));
      _mm512_mask_storeu_ps(y + j, m, act512(_mm512_add_ps(acc, acc2), act));
    }
  }
}

TRIM_AVX512 float dot_avx512(const int32_t* col, const float* val, int64_t len, const float* x) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= len; k += 32) {
    const __m512i i0 = _mm512_loadu_si512(col + k), i1 = _mm512_loadu_si512(col + k + 16);
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(val + k), _mm512_i32gather_ps(i0, x, 4), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(val + k + 16), _mm512_i32gather_ps(i1, x, 4), s1);
  }
  for (; k < len; k += 16) {
    const __mmask16 m = mask512(len - k);
    const __m512i i = _mm512_maskz_loadu_epi32(m, col + k);
    const __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, i, x, 4);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, val + k), xv, s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

// ---------------------------------------------------------------- convolution tiles (AVX-512)
// Where a convolution tile's results go. Grid column g of row r is output pixel (g / Wp, g % Wp)
// of channel r, kept when g % Wp < Wo (the implicit method's padded width; Wp == Wo otherwise).
struct ConvOut {
  float* Y;
  int64_t plane, Wp, Wo;  // plane: floats per output channel (Ho Wo)
  const float* R;         // the residual laid out as Y, added before the activation (null: none)
};

// One tile: rows [r0, r1) x grid columns [j0, j0 + w), 16 (NV - 1) < w <= 16 NV; nonzero k reads
// its row of the operand at B + tab[col[k]] (tab: per weight column, where its row of B starts).
struct ConvTile {
  int64_t r0, r1, j0, w;
};
constexpr int kMaxTileVectors = 8;  // 128 columns: 8 accumulators (16 with the second set) of 32 registers

// acc (+ acc2) += the nonzeros [k, ke) of one row times their rows of B (from column j0: Bj).
template <int NV>
TRIM_AVX512 __attribute__((always_inline)) inline void accumulate(__m512* acc, __m512* acc2, const Csr& a,
                                                                  const int32_t* tab, const float* Bj, __mmask16 last,
                                                                  int32_t k, int32_t ke) {
  if constexpr (NV <= 4) {  // few registers: two sets of accumulators over alternate nonzeros
    for (; k + 2 <= ke; k += 2) {
      const float* s0 = Bj + tab[a.col[k]];
      const float* s1 = Bj + tab[a.col[k + 1]];
      const __m512 v0 = _mm512_set1_ps(a.val[k]), v1 = _mm512_set1_ps(a.val[k + 1]);
#pragma GCC unroll 8
      for (int v = 0; v < NV - 1; ++v) {
        acc[v] = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 16 * v), acc[v]);
        acc2[v] = _mm512_fmadd_ps(v1, _mm512_loadu_ps(s1 + 16 * v), acc2[v]);
      }
      acc[NV - 1] = _mm512_fmadd_ps(v0, _mm512_maskz_loadu_ps(last, s0 + 16 * (NV - 1)), acc[NV - 1]);
      acc2[NV - 1] = _mm512_fmadd_ps(v1, _mm512_maskz_loadu_ps(last, s1 + 16 * (NV - 1)), acc2[NV - 1]);
    }
  }
  for (; k < ke; ++k) {
    const float* s0 = Bj + tab[a.col[k]];
    const __m512 v0 = _mm512_set1_ps(a.val[k]);
#pragma GCC unroll 8
    for (int v = 0; v < NV - 1; ++v) acc[v] = _mm512_fmadd_ps(v0, _mm512_loadu_ps(s0 + 16 * v), acc[v]);
    acc[NV - 1] = _mm512_fmadd_ps(v0, _mm512_maskz_loadu_ps(last, s0 + 16 * (NV - 1)), acc[NV - 1]);
  }
}

struct Seg {  // a run of a tile's grid columns that is one output row's run of pixels
  int64_t from, to, n;  // grid column - j0, output offset, length
};

// Row r of a tile: act(acc + residual) stored at columns j0 .. of Y's row, or (tmp non-null: a
// cropped tile) through tmp to its segments.
template <int NV>
TRIM_AVX512 __attribute__((always_inline)) inline void store_tile(const ConvOut& o, int64_t r, int64_t j0,
                                                                  __mmask16 last, Epilogue act, const __m512* acc,
                                                                  float* tmp, const Seg* segs, int nseg) {
  float* y = o.Y + r * o.plane;
  const float* res = o.R ? o.R + r * o.plane : nullptr;
  if (!tmp) {
#pragma GCC unroll 8
    for (int v = 0; v < NV - 1; ++v)
      _mm512_storeu_ps(y + j0 + 16 * v, act512(plus512(acc[v], res ? res + j0 + 16 * v : nullptr), act));
    __m512 tail = acc[NV - 1];
    if (res) tail = _mm512_add_ps(tail, _mm512_maskz_loadu_ps(last, res + j0 + 16 * (NV - 1)));
    _mm512_mask_storeu_ps(y + j0 + 16 * (NV - 1), last, act512(tail, act));
    return;
  }
  if (!res) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm512_store_ps(tmp + 16 * v, act512(acc[v], act));
    for (int s = 0; s < nseg; ++s) std::memcpy(y + segs[s].to, tmp + segs[s].from, sizeof(float) * size_t(segs[s].n));
    return;
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) _mm512_store_ps(tmp + 16 * v, acc[v]);
  for (int s = 0; s < nseg; ++s)
    for (int64_t i = 0; i < segs[s].n; i += 16) {
      const __mmask16 m = mask512(segs[s].n - i);
      const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, tmp + segs[s].from + i), _mm512_maskz_loadu_ps(m, res + segs[s].to + i));
      _mm512_mask_storeu_ps(y + segs[s].to + i, m, act512(v, act));
    }
}

// The whole tile stays in NV registers over one pass of each row's nonzeros. Compared with the
// 64-column spmm tiles, a 7 x 7 or 14 x 14 plane (49 to 224 columns) is one or two tiles rather
// than a 64-column loop plus a 16-column masked tail that walks the nonzeros again per 16 columns.
// Passing over the weight columns in blocks whose rows of B fit the L1 cache (partial sums kept in a
// local buffer between blocks) was measured and made things slower: 0.50 / 0.64 / 0.31 ms against
// 0.47 / 0.58 / 0.22 ms on ResNet-50's 3x3 at 14x14, 3x3 at 7x7 and 1x1 at 14x14, 90% zeros.
template <int NV>
TRIM_AVX512 void conv_tile_avx512(const Csr& a, const int32_t* tab, const float* B, const float* bias, Epilogue act,
                                  const ConvOut& o, const ConvTile& t) {
  static_assert(NV >= 1 && NV <= kMaxTileVectors);
  const int64_t j0 = t.j0, w = t.w;
  const __mmask16 last = mask512(w - 16 * (NV - 1));
  const float* Bj = B + j0;
  Seg segs[16 * NV];  // the tile's output segments
  int nseg = 0;
  const bool crop = o.Wp != o.Wo;
  if (crop) {
    for (int64_t g = j0; g < j0 + w;) {
      const int64_t y = g / o.Wp, x = g % o.Wp;
      if (x < o.Wo) {
        const int64_t n = std::min(o.Wo - x, j0 + w - g);
        segs[nseg++] = {g - j0, y * o.Wo + x, n};
      }
      g = (y + 1) * o.Wp;
    }
  }
  alignas(64) float tmp[16 * NV];
  float* crop_tmp = crop ? tmp : nullptr;
  for (int64_t r = t.r0; r < t.r1; ++r) {
    __m512 acc[NV], acc2[NV];
    const __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[v] = b, acc2[v] = _mm512_setzero_ps();
    accumulate<NV>(acc, acc2, a, tab, Bj, last, a.ptr[r], a.ptr[r + 1]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_add_ps(acc[v], acc2[v]);
    store_tile<NV>(o, r, j0, last, act, acc, crop_tmp, segs, nseg);
  }
}

// Above this many grid columns (output pixels, on the padded width for implicit) the spmm tiles
// are as fast or faster. Thread CPU time, 1 thread, batch 1, ResNet-50's layers at 90% / 95% zeros:
// conv tiles against spmm tiles 0.43 / 0.26 against 0.65 / 0.43 ms (3x3 at 14x14, 224 columns),
// 0.76 / 0.44 against 1.50 / 1.09 ms (3x3 at 7x7, 63 columns), 0.27 / 0.14 against 0.34 / 0.18 ms
// (1x1 512 -> 2048 at 7x7), even at 1x1 14x14 (196 columns), but 0.51 / 0.28 against 0.45 / 0.25
// ms (3x3 at 28x28, 840 columns) and 0.41 / 0.29 against 0.29 / 0.17 ms (1x1 256 -> 64 at 56x56).
constexpr int64_t kMaxTileGrid = 256;

using ConvTileFn = void (*)(const Csr&, const int32_t*, const float*, const float*, Epilogue, const ConvOut&,
                            const ConvTile&);
constexpr ConvTileFn kConvTiles[kMaxTileVectors] = {conv_tile_avx512<1>, conv_tile_avx512<2>, conv_tile_avx512<3>,
                                                    conv_tile_avx512<4>, conv_tile_avx512<5>, conv_tile_avx512<6>,
                                                    conv_tile_avx512<7>, conv_tile_avx512<8>};

// ---------------------------------------------------------------- selection

SparseIsa best_isa() {
  if (cpu_supports(SparseIsa::avx512)) return SparseIsa::avx512;
  if (cpu_supports(SparseIsa::avx2)) return SparseIsa::avx2;
  return SparseIsa::scalar;
}

std::atomic<SparseIsa>& isa_slot() {
  static std::atomic<SparseIsa> isa{best_isa()};
  return isa;
}

SparseConvMethod initial_method() {
  const char* env = std::getenv("TRIM_SPARSE_CONV");
  if (!env || !*env || std::string(env) == "automatic") return SparseConvMethod::automatic;
  if (std::string(env) == "implicit") return SparseConvMethod::implicit;
  if (std::string(env) == "im2col") return SparseConvMethod::im2col;
  throw Error(cat("TRIM_SPARSE_CONV: expected implicit, im2col or automatic, found '", env, "'"));
}

std::atomic<bool>& tiles_slot() {
  static std::atomic<bool> on{true};
  return on;
}

std::atomic<SparseConvMethod>& method_slot() {
  static std::atomic<SparseConvMethod> m{initial_method()};
  return m;
}

SpmmFn spmm_fn() {
  switch (sparse_isa()) {
    case SparseIsa::avx512: return spmm_avx512;
    case SparseIsa::avx2: return spmm_avx2;
    case SparseIsa::scalar: break;
  }
  return spmm_scalar;
}

DotFn dot_fn() {
  switch (sparse_isa()) {
    case SparseIsa::avx512: return dot_avx512;
    case SparseIsa::avx2: return dot_avx2;
    case SparseIsa::scalar: break;
  }
  return dot_scalar;
}

// ---------------------------------------------------------------- drivers

Csr csr_of(const Tensor& row_ptr, const Tensor& col_idx, const Tensor& values) {
  return {row_ptr.data<int32_t>(), col_idx.numel() ? col_idx.data<int32_t>() : nullptr,
          values.numel() ? values.data<float>() : nullptr, row_ptr.numel() - 1};
}

// Whether a product of `work` multiply-adds is worth spreading over the threads from here.
bool go_parallel(int64_t work) { return work >= kParallelWork && omp_get_max_threads() > 1 && !omp_in_parallel(); }

// Y [rows, ncols] (row stride ldy) = act(A · B + bias + R) over all rows and columns [0, ncols); R
// (null: none) laid out as Y.
void spmm(const Csr& a, const int64_t* off, const float* B, int64_t ncols, int64_t k_rows, const float* bias,
          Epilogue act, const float* R, float* Y, int64_t ldy, bool parallel) {
  if (a.rows == 0 || ncols == 0) return;
  const SpmmFn fn = spmm_fn();
  // Column blocks whose rows of B (k_rows of them, at most) stay in the 2 MiB L2 together.
  const int64_t cb = std::max<int64_t>(64, std::min<int64_t>(ncols, (int64_t(256) << 10) / std::max<int64_t>(1, k_rows)) / 64 * 64);
  const int64_t ncb = (ncols + cb - 1) / cb;
  const int threads = parallel ? omp_get_max_threads() : 1;
  // Enough row blocks for 8 tiles per thread, rows with few nonzeros being cheap.
  const int64_t want_rb = std::max<int64_t>(1, (8 * threads + ncb - 1) / ncb);
  const int64_t rb = std::max<int64_t>(1, (a.rows + want_rb - 1) / want_rb);
  const int64_t nrb = (a.rows + rb - 1) / rb, tiles = nrb * ncb;
  auto tile = [&](int64_t i) {
    const int64_t r = i % nrb, c = i / nrb;  // row blocks vary fastest: one column block's B stays hot
    fn(a, off, B, bias, act, R, Y, ldy, {r * rb, std::min(a.rows, (r + 1) * rb), c * cb, std::min(ncols, (c + 1) * cb)});
  };
  if (parallel && tiles > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < tiles; ++i) tile(i);
  } else {
    for (int64_t i = 0; i < tiles; ++i) tile(i);
  }
}

// The same product for a convolution on AVX-512 (conv_tile_avx512): grid columns [0, grid) in
// column tiles of at most 128 columns, balanced (224 columns: two of 112, not 128 + 96), and row
// blocks for 8 tiles per thread; rows vary fastest so one column tile's operand stays in cache.
void conv_tiles(const Csr& a, const int32_t* tab, const float* B, int64_t grid, const float* bias, Epilogue act,
                const ConvOut& o, bool parallel) {
  if (a.rows == 0 || grid == 0) return;
  const int64_t vecs = (grid + 15) / 16, nct = (vecs + kMaxTileVectors - 1) / kMaxTileVectors;
  const int64_t cw = 16 * ((vecs + nct - 1) / nct), ncb = (grid + cw - 1) / cw;
  const int threads = parallel ? omp_get_max_threads() : 1;
  const int64_t want_rb = std::max<int64_t>(1, (8 * threads + ncb - 1) / ncb);
  const int64_t rb = std::max<int64_t>(1, (a.rows + want_rb - 1) / want_rb);
  const int64_t nrb = (a.rows + rb - 1) / rb, tiles = nrb * ncb;
  auto tile = [&](int64_t i) {
    const int64_t r = i % nrb, j0 = i / nrb * cw, w = std::min(cw, grid - j0);
    kConvTiles[(w + 15) / 16 - 1](a, tab, B, bias, act, o, ConvTile{r * rb, std::min(a.rows, (r + 1) * rb), j0, w});
  };
  if (parallel && tiles > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < tiles; ++i) tile(i);
  } else {
    for (int64_t i = 0; i < tiles; ++i) tile(i);
  }
}

// One 8 x 8 block: dst[c * ldd + r] = src[r * lds + c] for r, c < 8 (unpack, shuffle, then swap the
// 128-bit halves).
TRIM_AVX2 void transpose8x8_avx2(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

// dst [cols, rows] = src [rows, cols]ᵀ: 8 x 8 register blocks with AVX2 (scalar at the edges and
// without AVX2), in bands of 8 rows. On the calling thread: at the sizes of a layer's activations,
// spreading it over the threads cost more than it saved. A plain loop made the transposes most of a
// batch-64 layer's time (a 784 x 64 transpose strides 256 bytes per element).
void transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  const bool vector = sparse_isa() != SparseIsa::scalar;
  const int64_t r8 = vector ? rows / 8 * 8 : 0, c8 = vector ? cols / 8 * 8 : 0;
  for (int64_t r0 = 0; r0 < r8; r0 += 8)
    for (int64_t c0 = 0; c0 < c8; c0 += 8) transpose8x8_avx2(src + r0 * cols + c0, cols, dst + c0 * rows + r0, rows);
  for (int64_t r = 0; r < rows; ++r)  // the edges: rows below r8 have columns from c8, the rest all
    for (int64_t c = r < r8 ? c8 : 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

}  // namespace

bool cpu_supports(SparseIsa isa) {
  switch (isa) {
    case SparseIsa::avx512: return __builtin_cpu_supports("avx512f");
    case SparseIsa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SparseIsa::scalar: return true;
  }
  return false;
}

SparseIsa sparse_isa() { return isa_slot().load(std::memory_order_relaxed); }

void set_sparse_isa(SparseIsa isa) {
  TRIM_CHECK(cpu_supports(isa), cat("set_sparse_isa: this CPU has no ", sparse_isa_name(isa)));
  isa_slot().store(isa);
}

const char* sparse_isa_name(SparseIsa isa) {
  switch (isa) {
    case SparseIsa::avx512: return "avx512";
    case SparseIsa::avx2: return "avx2";
    case SparseIsa::scalar: break;
  }
  return "scalar";
}

SparseConvMethod sparse_conv_method() { return method_slot().load(std::memory_order_relaxed); }
void set_sparse_conv_method(SparseConvMethod m) { method_slot().store(m); }
bool sparse_conv_tiles() { return tiles_slot().load(std::memory_order_relaxed); }
void set_sparse_conv_tiles(bool on) { tiles_slot().store(on); }

void csr_linear(const Tensor& row_ptr, const Tensor& col_idx, const Tensor& values, const Tensor& x,
                const Tensor& bias, Epilogue act, Tensor& y) {
  const Csr a = csr_of(row_ptr, col_idx, values);
  const int64_t n = x.size(0), cols = x.size(1), nnz = values.numel();
  const float* X = x.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* Yp = y.data<float>();
  if (a.rows == 0 || n == 0) return;
  if (n < kMinSpmmBatch) {  // per sample: gathers from x, rows across threads
    const DotFn dot = dot_fn();
    const int64_t tasks = n * a.rows;
    auto one = [&](int64_t i) {
      const int64_t s = i / a.rows, r = i % a.rows;
      const int32_t kb = a.ptr[r];
      const float v = dot(a.col + kb, a.val + kb, a.ptr[r + 1] - kb, X + s * cols);
      Yp[i] = apply_epilogue(act, (bp ? bp[r] : 0.0f) + v);
    };
    if (go_parallel(n * nnz)) {
#pragma omp parallel for schedule(static, 16)
      for (int64_t i = 0; i < tasks; ++i) one(i);
    } else {
      for (int64_t i = 0; i < tasks; ++i) one(i);
    }
    return;
  }
  // xᵀ [cols, n] so that the loop over the batch is contiguous; yᵀ [rows, n] transposed back (the
  // buffers are not zeroed: every element is written).
  const bool parallel = go_parallel(n * nnz);
  std::unique_ptr<float[]> xt(new float[size_t(cols * n)]), yt(new float[size_t(a.rows * n)]);
  transpose(X, n, cols, xt.get());
  std::unique_ptr<int64_t[]> off(new int64_t[size_t(nnz) + 1]);  // + 1: never a zero-size array
  for (int64_t k = 0; k < nnz; ++k) off[size_t(k)] = int64_t(a.col[k]) * n;
  spmm(a, off.get(), xt.get(), n, cols, bp, act, nullptr, yt.get(), n, parallel);
  transpose(yt.get(), a.rows, n, Yp);
}

void csr_conv2d(const Tensor& row_ptr, const Tensor& col_idx, const Tensor& values, const Tensor& x, int kh, int kw,
                const Tensor& bias, const Conv2dParams& p, Epilogue act, const Tensor& residual, Tensor& y) {
  const Csr a = csr_of(row_ptr, col_idx, values);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = y.size(1), Ho = y.size(2), Wo = y.size(3), P = Ho * Wo, K = C * kh * kw, nnz = values.numel();
  const float* X = x.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  const float* R = residual.defined() ? residual.data<float>() : nullptr;
  float* Yp = y.data<float>();
  if (N == 0 || O == 0 || P == 0) return;

  const int64_t sh = p.stride_h, sw = p.stride_w;
  const bool direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && p.pad_h == 0 && p.pad_w == 0;
  const SparseConvMethod method = sparse_conv_method();
  // AVX-512 runs the convolution tiles on grids of up to kMaxTileGrid columns (with 32-bit starts,
  // checked below); larger grids and the other ISAs the spmm tiles.
  const bool tile_isa = sparse_isa() == SparseIsa::avx512 && sparse_conv_tiles();
  // The implicit operand: per channel, sh x sw phase planes of the padded input [Hp, Wp], phase
  // (a, b) holding its pixels (u sh + a, v sw + b) at (u, v) in [Hq, Wq]. Tap (ky, kx) of output
  // (i, j) reads padded pixel (i sh + ry, j sw + rx) (ry = ky dil_h, rx = kx dil_w), which is (i +
  // ry / sh, j + rx / sw) of phase (ry % sh, rx % sw): a shifted plane, as with stride 1 (one phase).
  const int64_t Hp = H + 2 * int64_t(p.pad_h), Wp = W + 2 * int64_t(p.pad_w);
  const int64_t Hq = (Hp + sh - 1) / sh, Wq = (Wp + sw - 1) / sw, phase = Hq * Wq;
  // Automatic takes strided convolutions implicitly only when every phase is read (a 1 x 1 with
  // stride 2 reads one phase in four: im2col writes less).
  const bool phases_read = (sh == 1 || (p.dil_h == 1 && kh >= sh)) && (sw == 1 || (p.dil_w == 1 && kw >= sw));
  const bool small = tile_isa && Ho * Wq <= kMaxTileGrid;  // the implicit grid fits the conv tiles
  const bool implicit = !direct && (method == SparseConvMethod::implicit ||
                                    (method == SparseConvMethod::automatic && phases_read && (small || P >= kMinImplicitPixels)));
  // The dense operand per image, and the width of the product's column grid.
  const int64_t tail = int64_t(kw - 1) * p.dil_w / sw;  // the last plane's shifted reads run past its end
  const int64_t operand = direct ? 0 : implicit ? C * sh * sw * phase + tail : K * P;
  const int64_t grid = implicit ? Ho * Wq : P;  // implicit: output rows on the phase plane's width
  // Per weight column (c, ky, kx), where its row of the operand starts; built without dividing.
  std::vector<int64_t> start(size_t(K) + 1);
  if (implicit) {
    int64_t i = 0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t ry = ky * p.dil_h, rx = kx * p.dil_w;
          start[size_t(i++)] = ((c * sh + ry % sh) * sw + rx % sw) * phase + ry / sh * Wq + rx / sw;
        }
  } else {
    for (int64_t col = 0; col < K; ++col) start[size_t(col)] = col * P;
  }
  const bool tiles = tile_isa && grid <= kMaxTileGrid && operand + grid < (int64_t(1) << 31) && K * P < (int64_t(1) << 31);
  std::vector<int32_t> tab(tiles ? size_t(K) + 1 : 0);
  std::vector<int64_t> off(tiles ? 1 : size_t(nnz) + 1);
  if (tiles)
    for (int64_t col = 0; col < K; ++col) tab[size_t(col)] = int32_t(start[size_t(col)]);
  else
    for (int64_t k = 0; k < nnz; ++k) off[size_t(k)] = start[size_t(a.col[k])];
  const Shape xs{N, C, H, W}, ws{O, C, kh, kw}, ys{N, O, Ho, Wo};

  // Channel c of one image into its phase planes (one plane, zero-padded, with stride 1).
  auto phases = [&](const float* xc, float* q) {
    if (sh == 1 && sw == 1) {
      std::fill(q, q + p.pad_h * Wp, 0.0f);
      for (int64_t i = 0; i < H; ++i) {
        float* row = q + (i + p.pad_h) * Wp;
        std::fill(row, row + p.pad_w, 0.0f);
        std::memcpy(row + p.pad_w, xc + i * W, sizeof(float) * size_t(W));
        std::fill(row + p.pad_w + W, row + Wp, 0.0f);
      }
      std::fill(q + (p.pad_h + H) * Wp, q + Hp * Wp, 0.0f);
      return;
    }
    std::fill(q, q + sh * sw * phase, 0.0f);
    for (int64_t i = 0; i < H; ++i) {
      const int64_t py = i + p.pad_h;
      const float* src = xc + i * W;
      for (int64_t b = 0; b < sw; ++b) {
        // Input columns j = j0, j0 + sw, ... (padded column j + pad_w of phase b) go to consecutive
        // places of the phase row: no division per pixel (it cost more than the product).
        const int64_t j0 = (b - p.pad_w % sw + sw) % sw;
        float* dst = q + ((py % sh) * sw + b) * phase + py / sh * Wq + (j0 + p.pad_w) / sw;
        for (int64_t j = j0; j < W; j += sw) *dst++ = src[j];
      }
    }
  };

  // One image: the operand into `buf`, the product into y (or the wide grid `wide`, then cropped).
  auto image = [&](int64_t n, float* buf, float* wide, bool parallel) {
    const float* xn = X + n * C * H * W;
    float* yn = Yp + n * O * P;
    const float* rn = R ? R + n * O * P : nullptr;
    const float* B = xn;
    if (implicit) {
      parallel_for(C, parallel, [&](int64_t c) { phases(xn + c * H * W, buf + c * sh * sw * phase); });
      std::fill(buf + C * sh * sw * phase, buf + operand, 0.0f);
      B = buf;
    } else if (!direct) {
      im2col_image(xn, xs, ws, ys, p, buf);
      B = buf;
    }
    if (tiles) {
      conv_tiles(a, tab.data(), B, grid, bp, act, ConvOut{yn, P, implicit ? Wq : Wo, Wo, rn}, parallel);
      return;
    }
    if (!implicit) {
      spmm(a, off.data(), B, P, K, bp, act, rn, yn, P, parallel);
      return;
    }
    // The wide grid, cropped to the output (with the residual and the activation when there is one).
    spmm(a, off.data(), B, grid, C * kh, bp, rn ? Epilogue::none : act, nullptr, wide, grid, parallel);
    parallel_for(O, parallel, [&](int64_t o) {
      for (int64_t i = 0; i < Ho; ++i) {
        float* dst = yn + (o * Ho + i) * Wo;
        const float* src = wide + (o * Ho + i) * Wq;
        if (!rn) {
          std::memcpy(dst, src, sizeof(float) * size_t(Wo));
          continue;
        }
        const float* res = rn + (o * Ho + i) * Wo;
        for (int64_t j = 0; j < Wo; ++j) dst[j] = apply_epilogue(act, src[j] + res[j]);
      }
    });
  };

  // Every element of both buffers is written before it is read: no zero-filling pass.
  const size_t buf_size = size_t(operand), wide_size = implicit && !tiles ? size_t(O * grid) : 0;
  const int threads = omp_get_max_threads();
  if (threads > 1 && N >= threads && !omp_in_parallel() && N * nnz * P >= kParallelWork) {
#pragma omp parallel
    {
      auto buf = std::make_unique_for_overwrite<float[]>(buf_size);
      auto wide = std::make_unique_for_overwrite<float[]>(wide_size);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) image(n, buf.get(), wide.get(), false);
    }
  } else {
    auto buf = std::make_unique_for_overwrite<float[]>(buf_size);
    auto wide = std::make_unique_for_overwrite<float[]>(wide_size);
    for (int64_t n = 0; n < N; ++n) image(n, buf.get(), wide.get(), go_parallel(nnz * P));
  }
}

}  // namespace trim::cpu
