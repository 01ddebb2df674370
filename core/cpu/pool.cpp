#include <algorithm>

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

// 2x2 windows at stride 2 without padding (SAP's CNN's, VGG's and most small CNNs' pooling), a
// whole plane per call: every window lies inside the image, so output j of a row reads columns 2j
// and 2j + 1 of two input rows, in MaxForward's order and with its rule. One branch-free loop per
// row, which the compiler vectorises; the general row kernel above spent more on its blocks'
// bookkeeping than on the comparisons at these widths (14 outputs per row on 28x28 input).
void max_plane_2x2(const pool::MaxForward& f, int64_t plane) {
  const pool::Geom& g = f.g;
  const int32_t W = int32_t(g.W);
  for (int64_t oh = 0; oh < g.Ho; ++oh) {
    const int32_t top = int32_t(2 * oh) * W;
    const float* __restrict r0 = f.x + plane * g.H * g.W + top;
    const float* __restrict r1 = r0 + W;
    float* __restrict y = f.y + (plane * g.Ho + oh) * g.Wo;
    int32_t* __restrict idx = f.idx + (plane * g.Ho + oh) * g.Wo;
    for (int32_t j = 0; j < int32_t(g.Wo); ++j) {
      const int32_t c = 2 * j;
      float v = r0[c];
      int32_t b = top + c;
      auto take = [&](float xv, int32_t at) {
        const bool t = (xv > v) | ((xv != xv) & (v == v));
        v = t ? xv : v;
        b = t ? at : b;
      };
      take(r0[c + 1], top + c + 1);
      take(r1[c], top + W + c);
      take(r1[c + 1], top + W + c + 1);
      y[j] = v;
      idx[j] = b;
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
  if (p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 && p.pad_w == 0) {
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
