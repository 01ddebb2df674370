// The direct 3x3 inference convolution of conv_direct.h.
//
// Layout of the work: the input of every image is first copied into a zero-padded buffer
// [N, C, H + 2, Wp] (Wp = W rounded up to 16, plus 2) so that the inner loop loads 16 columns
// without bounds checks. One work item is (image, block of 8 output channels, output row); it
// walks the row 32 columns at a time (16 for the last block when W is not a multiple of 32) with
// 8 x 2 accumulators, for every input channel and the 9 taps: load 2 vectors of the padded row,
// broadcast each of the block's 8 weights, 16 FMAs. Planes at most 16 wide take two rows per item
// instead (one vector each, masked), so the broadcasts still feed 16 FMAs; planes 8 wide (and of
// even height) put two rows in each vector and take four rows per item. The weight is repacked so the 8 weights of one
// tap are contiguous: [O/8 blocks][C][9][8], zero beyond O.
#include "core/cpu/conv_direct.h"

#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_ps() (inside the AVX-512 intrinsics) as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/error.h"

namespace trim::cpu {

namespace {
constexpr int kBlock = 8;   // output channels per work item
constexpr int kLanes = 16;  // floats per AVX-512 vector

int64_t padded_width(int64_t w) { return (w + kLanes - 1) / kLanes * kLanes + 2; }

bool have_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}
}  // namespace

struct DirectConv3x3 {
  int64_t out = 0, in = 0, blocks = 0;
  std::vector<float> weight;  // [blocks][in][9][kBlock]
  std::vector<float> bias;    // [blocks * kBlock], zero where the layer has none
};

bool direct_conv3x3_serves(const Shape& w, const Conv2dParams& p, int64_t height, int64_t width) {
  if (w.ndim() != 4 || w[2] != 3 || w[3] != 3) return false;
  if (p.stride_h != 1 || p.stride_w != 1 || p.pad_h != 1 || p.pad_w != 1 || p.dil_h != 1 || p.dil_w != 1 ||
      p.groups != 1)
    return false;
  const int64_t o = w[0], c = w[1];
  return width >= 8 && o <= 64 && c <= 64 && (o % 16 != 0 || c % 16 != 0) && have_avx512();
}

std::shared_ptr<DirectConv3x3> make_direct_conv3x3(const Tensor& weight, const Tensor& bias) {
  check_dtype("make_direct_conv3x3", weight, DType::f32, "weight");
  TRIM_CHECK(weight.device().is_cpu() && weight.ndim() == 4 && weight.size(2) == 3 && weight.size(3) == 3,
             cat("make_direct_conv3x3: expected a CPU weight [O, C, 3, 3], found ", weight.shape().str()));
  auto d = std::make_shared<DirectConv3x3>();
  d->out = weight.size(0);
  d->in = weight.size(1);
  d->blocks = (d->out + kBlock - 1) / kBlock;
  d->weight.assign(size_t(d->blocks * d->in * 9 * kBlock), 0.0f);
  d->bias.assign(size_t(d->blocks * kBlock), 0.0f);
  const std::vector<float> w = weight.to_vector<float>();
  for (int64_t o = 0; o < d->out; ++o)
    for (int64_t c = 0; c < d->in; ++c)
      for (int64_t t = 0; t < 9; ++t)
        d->weight[size_t(((o / kBlock * d->in + c) * 9 + t) * kBlock + o % kBlock)] = w[size_t((o * d->in + c) * 9 + t)];
  if (bias.defined()) {
    check_shape("make_direct_conv3x3", bias, Shape{d->out}, "bias");
    const std::vector<float> b = bias.to_vector<float>();
    std::copy(b.begin(), b.end(), d->bias.begin());
  }
  return d;
}

namespace {

struct Geometry {
  int64_t c, h, w, wp, out;
};

// What the store does: act(sum + bias + res), res (the residual, laid out as the output; null: none).
struct Store {
  Epilogue act;
  const float* res;  // the image's residual
};

// One output row of one block, portable: the reference of the AVX-512 path.
void row_portable(const DirectConv3x3& d, const Geometry& g, const float* pad, int64_t block, int64_t y, float* out,
                  Store st) {
  const int64_t hp = g.h + 2;
  for (int64_t k = 0; k < kBlock; ++k) {
    const int64_t o = block * kBlock + k;
    if (o >= g.out) break;
    float* dst = out + o * g.h * g.w + y * g.w;
    const float* res = st.res ? st.res + o * g.h * g.w + y * g.w : nullptr;
    for (int64_t x = 0; x < g.w; ++x) {
      float s = 0.0f;
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t t = 0; t < 9; ++t)
          s += d.weight[size_t(((block * g.c + c) * 9 + t) * kBlock + k)] * pad[(c * hp + y + t / 3) * g.wp + x + t % 3];
      s += d.bias[size_t(o)];
      dst[x] = apply_epilogue(st.act, res ? s + res[x] : s);
    }
  }
}

#define TRIM_AVX512 __attribute__((target("avx512f")))

// Whether a plane takes row-pair tiles: exactly 8 wide, and an even number of rows so that no
// tile reaches past the last row.
bool pairs(int64_t w, int64_t h) { return w == 8 && h % 2 == 0; }

// How the vectors of a tile cover the output (see tile_avx512).
enum class Cover { columns, rows, row_pairs };

// V vectors of one block's 8 output channels, each fed by the same weight broadcasts:
//  - columns: vector v is columns [x0 + 16 v, x0 + 16 v + 16) of row y (planes wider than 16);
//  - rows: vector v is row y + v, columns [0, 16) (planes 8 to 16 wide);
//  - row_pairs: vector v is rows y + 2v and y + 2v + 1, 8 columns each (planes exactly 8 wide, of
//    even height: see pairs()).
template <int V, Cover kCover>
TRIM_AVX512 inline void tile_avx512(const DirectConv3x3& d, const Geometry& g, const float* pad, int64_t block,
                                    int64_t y, int64_t x0, float* out, Store st) {
  __m512 acc[kBlock][V];
  for (int k = 0; k < kBlock; ++k)
    for (int v = 0; v < V; ++v) acc[k][v] = _mm512_setzero_ps();
  const int64_t hp = g.h + 2;
  const float* wb = d.weight.data() + block * g.c * 9 * kBlock;
  for (int64_t c = 0; c < g.c; ++c) {
    for (int ky = 0; ky < 3; ++ky) {
      const float* row = pad + (c * hp + y + ky) * g.wp + x0;
      for (int kx = 0; kx < 3; ++kx) {
        __m512 in[V];
        for (int v = 0; v < V; ++v) {
          if constexpr (kCover == Cover::columns) {
            in[v] = _mm512_loadu_ps(row + kx + v * kLanes);
          } else if constexpr (kCover == Cover::rows) {
            in[v] = _mm512_loadu_ps(row + kx + v * g.wp);
          } else {
            const __m256 lo = _mm256_loadu_ps(row + kx + 2 * v * g.wp), hi = _mm256_loadu_ps(row + kx + (2 * v + 1) * g.wp);
            in[v] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
          }
        }
        const float* wt = wb + (c * 9 + ky * 3 + kx) * kBlock;
#pragma GCC unroll 8
        for (int k = 0; k < kBlock; ++k) {
          const __m512 wk = _mm512_set1_ps(wt[k]);
          for (int v = 0; v < V; ++v) acc[k][v] = _mm512_fmadd_ps(wk, in[v], acc[k][v]);
        }
      }
    }
  }
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
  for (int k = 0; k < kBlock; ++k) {
    const int64_t o = block * kBlock + k;
    if (o >= g.out) break;
    const __m512 b = _mm512_set1_ps(d.bias[size_t(o)]);
    const int64_t at = o * g.h * g.w + y * g.w + x0;
    float* dst = out + at;
    const float* res = st.res ? st.res + at : nullptr;
    for (int v = 0; v < V; ++v) {
      __m512 r = _mm512_add_ps(acc[k][v], b);
      if constexpr (kCover == Cover::row_pairs) {  // two whole rows of 8, contiguous in the output
        if (res) r = _mm512_add_ps(r, _mm512_loadu_ps(res + 2 * v * g.w));
        if (st.act != Epilogue::none) r = _mm512_max_ps(r, zero);
        if (st.act == Epilogue::relu6) r = _mm512_min_ps(r, six);
        _mm512_storeu_ps(dst + 2 * v * g.w, r);
      } else {
        const int64_t left = g.w - (kCover == Cover::rows ? x0 : x0 + v * kLanes);  // columns in its row (> 0)
        const __mmask16 m = left >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
        const int64_t step = v * (kCover == Cover::rows ? g.w : kLanes);
        if (res) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, res + step));
        if (st.act != Epilogue::none) r = _mm512_max_ps(r, zero);
        if (st.act == Epilogue::relu6) r = _mm512_min_ps(r, six);
        _mm512_mask_storeu_ps(dst + step, m, r);
      }
    }
  }
}

// Output rows [y, y + rows) of one block: rows is 1 on planes wider than 16, 4 or 2 on planes of
// row pairs, at most 2 on the other planes up to 16 wide (see direct_conv3x3_forward).
TRIM_AVX512 void rows_avx512(const DirectConv3x3& d, const Geometry& g, const float* pad, int64_t block, int64_t y,
                             int64_t rows, float* out, Store st) {
  if (pairs(g.w, g.h)) {
    if (rows == 4) return tile_avx512<2, Cover::row_pairs>(d, g, pad, block, y, 0, out, st);
    return tile_avx512<1, Cover::row_pairs>(d, g, pad, block, y, 0, out, st);
  }
  if (g.w <= kLanes) {
    if (rows == 2) return tile_avx512<2, Cover::rows>(d, g, pad, block, y, 0, out, st);
    return tile_avx512<1, Cover::rows>(d, g, pad, block, y, 0, out, st);
  }
  int64_t x0 = 0;
  for (; x0 + kLanes < g.w; x0 += 2 * kLanes) tile_avx512<2, Cover::columns>(d, g, pad, block, y, x0, out, st);
  if (x0 < g.w) tile_avx512<1, Cover::columns>(d, g, pad, block, y, x0, out, st);
}

}  // namespace

void direct_conv3x3_forward(const DirectConv3x3& d, const Tensor& x, const Tensor& residual, Epilogue act, Tensor& y,
                            bool vectorised) {
  TRIM_CHECK(x.device().is_cpu() && x.dtype() == DType::f32 && x.ndim() == 4 && x.size(1) == d.in,
             cat("direct_conv3x3_forward: expected an f32 CPU input [N, ", d.in, ", H, W], found ", x.shape().str()));
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  check_shape("direct_conv3x3_forward", y, Shape{n, d.out, h, w}, "output");
  if (residual.defined()) {
    check_dtype("direct_conv3x3_forward", residual, DType::f32, "residual");
    TRIM_CHECK(residual.device().is_cpu(), "direct_conv3x3_forward: the residual must be on the CPU");
    check_shape("direct_conv3x3_forward", residual, y.shape(), "residual");
  }
  const float* rp = residual.defined() ? residual.data<float>() : nullptr;
  TRIM_CHECK(!vectorised || have_avx512(), "direct_conv3x3_forward: this CPU has no AVX-512");
  TRIM_CHECK(!vectorised || w >= 8,
             cat("direct_conv3x3_forward: the AVX-512 path takes planes at least 8 wide, found ", h, "x", w));
  const Geometry g{d.in, h, w, padded_width(w), d.out};
  const int64_t plane = (h + 2) * g.wp;
  // The padded copy: one per calling thread, kept between calls (a network's layers reuse it).
  thread_local std::vector<float> pad;
  const size_t need = size_t(n * d.in * plane);
  if (pad.size() < need) pad.resize(need);
  const float* src = x.data<float>();
  float* pb = pad.data();
  parallel_for(n * d.in, n * d.in * plane >= kParallelGrain, [&](int64_t nc) {
    float* p = pb + nc * plane;
    const float* s = src + nc * h * w;
    std::memset(p, 0, sizeof(float) * size_t(g.wp));  // the top padding row
    for (int64_t r = 0; r < h; ++r) {
      float* row = p + (r + 1) * g.wp;
      row[0] = 0.0f;
      std::memcpy(row + 1, s + r * w, sizeof(float) * size_t(w));
      std::fill(row + 1 + w, row + g.wp, 0.0f);
    }
    std::memset(p + (h + 1) * g.wp, 0, sizeof(float) * size_t(g.wp));  // the bottom one
  });
  float* dst = y.data<float>();
  // A work item is `step` output rows: 4 on planes 8 wide and of even height (two per vector), 2 on
  // other planes at most 16 wide (one per vector), else 1 (one row, 32 columns per tile).
  const int64_t step = !vectorised ? 1 : pairs(w, h) ? 4 : w <= kLanes ? 2 : 1, groups = (h + step - 1) / step;
  const int64_t items = n * d.blocks * groups;
  parallel_for(items, items > 1 && n * d.out * h * w * d.in * 9 >= kParallelGrain, [&](int64_t i) {
    const int64_t img = i / (d.blocks * groups), block = i / groups % d.blocks, row = i % groups * step;
    const float* p = pb + img * d.in * plane;
    float* out = dst + img * d.out * h * w;
    const Store st{act, rp ? rp + img * d.out * h * w : nullptr};
    if (vectorised)
      rows_avx512(d, g, p, block, row, std::min(step, h - row), out, st);
    else
      row_portable(d, g, p, block, row, out, st);
  });
}

}  // namespace trim::cpu
