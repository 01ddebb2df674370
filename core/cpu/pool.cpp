#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"
#include "core/kernels/pool_math.h"

namespace trim::cpu {
#include "core/kernels/pool.inc"

namespace {

// Outputs of one row computed together, in registers-sized blocks of the row.
constexpr int64_t kBlock = 64;

// Max pooling of output row `oh` of one plane. Columns whose window lies inside the image go
// through a loop over the block's outputs for each window element, with selects instead of a
// branch (the comparison is a coin flip on activations: a mispredicted branch per element made the
// per-output loop the slowest pass of a ResNet step per byte); the compiler vectorises it. Each
// output sees its window's elements in pool::MaxForward's order with its rule (first maximum, a NaN
// wins and stays), so results and argmax indices are identical; edge columns use MaxForward itself.
template <int kStride>
void max_row(const pool::MaxForward& f, int64_t plane, int64_t oh) {
  const pool::Geom& g = f.g;
  const int64_t stride = kStride > 0 ? kStride : g.p.stride_w;
  const int64_t kw = g.p.kernel_w, pad = g.p.pad_w;
  // Interior columns: ow * stride - pad >= 0 and ow * stride - pad + kw <= W.
  int64_t lo = (pad + stride - 1) / stride, hi = g.W - kw + pad >= 0 ? (g.W - kw + pad) / stride + 1 : 0;
  hi = std::min(hi, g.Wo), lo = std::min(lo, hi);
  for (int64_t ow = 0; ow < lo; ++ow) f(plane, oh, ow);
  for (int64_t ow = hi; ow < g.Wo; ++ow) f(plane, oh, ow);
  int64_t h0 = oh * g.p.stride_h - g.p.pad_h, h1 = std::min(h0 + g.p.kernel_h, g.H);
  h0 = std::max<int64_t>(h0, 0);
  const float* xp = f.x + plane * g.H * g.W;
  const int64_t o_row = (plane * g.Ho + oh) * g.Wo;
  for (int64_t b0 = lo; b0 < hi; b0 += kBlock) {
    const int64_t n = std::min(kBlock, hi - b0);
    const int32_t first = int32_t(h0 * g.W + b0 * stride - pad);  // the window of output b0 starts here
    float v[kBlock];
    int32_t best[kBlock];
    for (int64_t j = 0; j < n; ++j) v[j] = xp[first + j * stride], best[j] = int32_t(first + j * stride);
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t k = 0; k < kw; ++k) {
        const int32_t at = int32_t(ih * g.W + b0 * stride - pad + k);
        const float* src = xp + at;
        for (int64_t j = 0; j < n; ++j) {
          float xv = src[j * stride], cur = v[j];
          bool take = (xv > cur) | ((xv != xv) & (cur == cur));
          v[j] = take ? xv : cur;
          best[j] = take ? at + int32_t(j * stride) : best[j];
        }
      }
    for (int64_t j = 0; j < n; ++j) f.y[o_row + b0 + j] = v[j], f.idx[o_row + b0 + j] = best[j];
  }
}

#if defined(__SSE2__)
// MaxForward's rule on four lanes: the candidate c (offset kc) replaces v (offset k) where it is
// larger, or where it is a NaN and v is not.
inline void take4(__m128& v, __m128i& k, __m128 c, __m128i kc) {
  const __m128 t = _mm_or_ps(_mm_cmpgt_ps(c, v), _mm_andnot_ps(_mm_cmpunord_ps(v, v), _mm_cmpunord_ps(c, c)));
  v = _mm_or_ps(_mm_and_ps(t, c), _mm_andnot_ps(t, v));
  const __m128i ti = _mm_castps_si128(t);
  k = _mm_or_si128(_mm_and_si128(ti, kc), _mm_andnot_si128(ti, k));
}
#endif

// 2x2 windows at stride 2 without padding (SAP's CNN's, VGG's and most small CNNs' pooling), a
// whole plane per call: every window lies inside the image, so output j of a row compares
// columns 2j and 2j + 1 of two input rows, in MaxForward's order and with its rule. Four outputs
// at a time in SSE2 (the compiler does not vectorise the stride-2 reads: "complicated access
// pattern"), the rest one at a time; the general row kernel above ran at a third of memory speed
// on SAP's CNN (14 outputs per row on 28x28 input).
void max_plane_2x2(const pool::MaxForward& f, int64_t plane) {
  const int64_t W = f.g.W, Ho = f.g.Ho, Wo = f.g.Wo;
  const float* x = f.x + plane * f.g.H * W;
  float* y = f.y + plane * Ho * Wo;
  int32_t* idx = f.idx + plane * Ho * Wo;
  const int32_t w = int32_t(W);
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const float* r0 = x + 2 * oh * W;
    const float* r1 = r0 + W;
    const int32_t top = int32_t(2 * oh * W);  // offset of the row's first window in the plane
    float* yr = y + oh * Wo;
    int32_t* ir = idx + oh * Wo;
    int64_t j = 0;
#if defined(__SSE2__)
    const __m128i k_b = _mm_set1_epi32(1), k_c = _mm_set1_epi32(w), k_d = _mm_set1_epi32(w + 1);
    const __m128i lane = _mm_set_epi32(6, 4, 2, 0);
    for (; j + 4 <= Wo; j += 4) {  // reads columns 2j .. 2j + 7 <= 2 Wo - 1 < W
      const __m128 lo0 = _mm_loadu_ps(r0 + 2 * j), hi0 = _mm_loadu_ps(r0 + 2 * j + 4);
      const __m128 lo1 = _mm_loadu_ps(r1 + 2 * j), hi1 = _mm_loadu_ps(r1 + 2 * j + 4);
      __m128 v = _mm_shuffle_ps(lo0, hi0, _MM_SHUFFLE(2, 0, 2, 0));  // a: even columns of row 0
      __m128i k = _mm_setzero_si128();
      take4(v, k, _mm_shuffle_ps(lo0, hi0, _MM_SHUFFLE(3, 1, 3, 1)), k_b);  // b: odd columns
      take4(v, k, _mm_shuffle_ps(lo1, hi1, _MM_SHUFFLE(2, 0, 2, 0)), k_c);  // c, d: row 1
      take4(v, k, _mm_shuffle_ps(lo1, hi1, _MM_SHUFFLE(3, 1, 3, 1)), k_d);
      _mm_storeu_ps(yr + j, v);
      const __m128i first = _mm_add_epi32(_mm_set1_epi32(top + int32_t(2 * j)), lane);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(ir + j), _mm_add_epi32(first, k));
    }
#endif
    for (; j < Wo; ++j) {
      const float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
      float v = a;
      int32_t k = 0;  // the winner's offset from a
      bool t = (b > v) | ((b != b) & (v == v));
      v = t ? b : v, k = t ? 1 : k;
      t = (c > v) | ((c != c) & (v == v));
      v = t ? c : v, k = t ? w : k;
      t = (d > v) | ((d != d) & (v == v));
      v = t ? d : v, k = t ? w + 1 : k;
      yr[j] = v;
      ir[j] = top + int32_t(2 * j) + k;
    }
  }
}

}  // namespace

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dParams& p) {
  check_argmax_range(x);
  const pool::MaxForward f{x.data<float>(), y.data<float>(), indices.data<int32_t>(), pool_geom(x, y, p)};
  const int64_t ho = y.size(2), rows = y.size(0) * y.size(1) * ho;
  auto run = [&](auto row) {
    parallel_for(rows, y.numel() >= kParallelGrain, [&](int64_t r) { row(f, r / ho, r % ho); });
  };
  // Every window inside the image: not so for a 1-pixel side, whose one window is clipped.
  if (p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 && p.pad_w == 0 &&
      x.size(2) >= 2 * y.size(2) && x.size(3) >= 2 * y.size(3)) {
    const int64_t planes = y.size(0) * y.size(1);
    return parallel_for(planes, y.numel() >= kParallelGrain, [&](int64_t plane) { max_plane_2x2(f, plane); });
  }
  if (p.stride_w == 1) return run(max_row<1>);
  if (p.stride_w == 2) return run(max_row<2>);
  run(max_row<0>);
}

void max_pool2d_backward(const Tensor& indices, const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  int64_t planes = gx.size(0) * gx.size(1);
  pool::MaxBackwardPlane f{indices.data<int32_t>(), gy.data<float>(), gx.data<float>(), pool_geom(gx, gy, p)};
  parallel_for(planes, gx.numel() >= kParallelGrain, [&](int64_t plane) { f(plane); });
}

}  // namespace trim::cpu
