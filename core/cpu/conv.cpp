// Convolution on the CPU: the dispatch between the backends (conv_backend.h) and the im2col + GEMM
// path: im2col + GEMM per image (and per group), images spread across threads; depthwise
// convolutions take the direct kernels of conv_depthwise.cpp, the oneDNN path is conv_onednn.cpp.
// Each thread's GEMMs run single-threaded (OpenBLAS's OpenMP build does so inside a parallel
// region); with fewer images than threads the images run in turn and each GEMM uses all threads.
// bf16 inputs (the bf16 policy) are rounded to f32 first: products of bf16 values are exact in
// f32 and the sums are f32, so this is the policy's arithmetic (at f32 speed).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/cpu/bf16_support.h"
#include "core/cpu/conv_backend.h"
#include "core/cpu/conv_impl.h"
#include "core/cpu/lanes.h"
#include "core/error.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {

#include "core/kernels/conv_backward.inc"

namespace {

struct Geom {
  int64_t N, C, H, W, O, kh, kw, Ho, Wo, G, Cg, Og, K, P;
  Conv2dParams p;
  bool direct;  // 1x1, stride 1, no padding: the input already is the column matrix
};

Geom geom(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p) {
  Geom g;
  g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
  g.O = ws[0], g.kh = ws[2], g.kw = ws[3];
  g.Ho = ys[2], g.Wo = ys[3];
  g.G = p.groups, g.Cg = g.C / g.G, g.Og = g.O / g.G;
  g.K = g.Cg * g.kh * g.kw, g.P = g.Ho * g.Wo;
  g.p = p;
  g.direct = g.kh == 1 && g.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  return g;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// For kernel column offset off_w, the output columns [lo, hi) that read inside the image.
void valid_cols(const Geom& g, int64_t off_w, int64_t& lo, int64_t& hi) {
  int64_t s = g.p.stride_w;
  lo = off_w >= 0 ? 0 : ceil_div(-off_w, s);
  hi = g.W - off_w > 0 ? ceil_div(g.W - off_w, s) : 0;
  lo = std::min(lo, g.Wo);
  hi = std::clamp(hi, lo, g.Wo);
}

// col[K, P] from one group's input planes x[Cg, H, W].
void im2col(const float* x, const Geom& g, float* col) {
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        float* row = col + ((c * g.kh + ki) * g.kw + kj) * g.P;
        int64_t off_h = ki * g.p.dil_h - g.p.pad_h, off_w = kj * g.p.dil_w - g.p.pad_w, lo, hi;
        valid_cols(g, off_w, lo, hi);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          float* r = row + oh * g.Wo;
          int64_t ih = oh * g.p.stride_h + off_h;
          if (ih < 0 || ih >= g.H) {
            std::memset(r, 0, sizeof(float) * size_t(g.Wo));
            continue;
          }
          const float* src = x + (c * g.H + ih) * g.W + off_w;
          for (int64_t ow = 0; ow < lo; ++ow) r[ow] = 0.0f;
          if (g.p.stride_w == 1)
            std::memcpy(r + lo, src + lo, sizeof(float) * size_t(hi - lo));
          else
            for (int64_t ow = lo; ow < hi; ++ow) r[ow] = src[ow * g.p.stride_w];
          for (int64_t ow = hi; ow < g.Wo; ++ow) r[ow] = 0.0f;
        }
      }
}

// The adjoint of im2col: x[Cg, H, W] += scatter of col[K, P].
void col2im(const float* col, const Geom& g, float* x) {
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const float* row = col + ((c * g.kh + ki) * g.kw + kj) * g.P;
        int64_t off_h = ki * g.p.dil_h - g.p.pad_h, off_w = kj * g.p.dil_w - g.p.pad_w, lo, hi;
        valid_cols(g, off_w, lo, hi);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          int64_t ih = oh * g.p.stride_h + off_h;
          if (ih < 0 || ih >= g.H) continue;
          const float* r = row + oh * g.Wo;
          float* dst = x + (c * g.H + ih) * g.W + off_w;
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.p.stride_w] += r[ow];
        }
      }
}

bool spread_images(int64_t n) { return omp_get_max_threads() > 1 && n >= omp_get_max_threads(); }

// Runs body(n, scratch) for every image, with a per-thread scratch buffer of `scratch` floats.
template <class F>
void for_images(int64_t images, size_t scratch, const F& body) {
  if (spread_images(images)) {
#pragma omp parallel
    {
      std::vector<float> buf(scratch);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < images; ++n) body(n, buf.data());
    }
  } else {
    std::vector<float> buf(scratch);
    for (int64_t n = 0; n < images; ++n) body(n, buf.data());
  }
}

}  // namespace

void im2col_image(const float* x, const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p, float* col) {
  im2col(x, geom(xs, ws, ys, p), col);
}

void gemm_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const Conv2dParams& p) {
  if (any_bf16(x, w)) return gemm_conv2d_forward(bf16_rounded_f32(x), bf16_rounded_f32(w), b, y, p);
  Geom g = geom(x.shape(), w.shape(), y.shape(), p);
  const float *X = x.data<float>(), *Wt = w.data<float>(), *B = b.defined() ? b.data<float>() : nullptr;
  float* Y = y.data<float>();
  for_images(g.N, g.direct ? 0 : size_t(g.K * g.P), [&](int64_t n, float* col) {
    for (int64_t gi = 0; gi < g.G; ++gi) {
      const float* xin = X + (n * g.C + gi * g.Cg) * g.H * g.W;
      if (!g.direct) im2col(xin, g, col);
      float* yg = Y + (n * g.O + gi * g.Og) * g.P;
      gemm(false, false, g.Og, g.P, g.K, 1.0f, Wt + gi * g.Og * g.K, g.direct ? xin : col, 0.0f, yg);
      if (B)  // while the product is in cache; the same additions as add_bias
        for (int64_t o = 0; o < g.Og; ++o) {
          const float bo = B[gi * g.Og + o];
          float* row = yg + o * g.P;
          for (int64_t i = 0; i < g.P; ++i) row[i] += bo;
        }
    }
  });
}

void gemm_conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  if (any_bf16(gy, w)) return gemm_conv2d_backward_data(bf16_rounded_f32(gy), bf16_rounded_f32(w), gx, p);
  Geom g = geom(gx.shape(), w.shape(), gy.shape(), p);
  const float *GY = gy.data<float>(), *Wt = w.data<float>();
  float* GX = gx.data<float>();
  for_images(g.N, g.direct ? 0 : size_t(g.K * g.P), [&](int64_t n, float* dcol) {
    for (int64_t gi = 0; gi < g.G; ++gi) {
      float* gxin = GX + (n * g.C + gi * g.Cg) * g.H * g.W;
      const float* gyg = GY + (n * g.O + gi * g.Og) * g.P;
      const float* wg = Wt + gi * g.Og * g.K;
      if (g.direct) {
        gemm(true, false, g.K, g.P, g.Og, 1.0f, wg, gyg, 0.0f, gxin);
      } else {
        gemm(true, false, g.K, g.P, g.Og, 1.0f, wg, gyg, 0.0f, dcol);
        std::memset(gxin, 0, sizeof(float) * size_t(g.Cg * g.H * g.W));
        col2im(dcol, g, gxin);
      }
    }
  });
}

void gemm_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta,
                                 Tensor* gb, float beta_b) {
  if (any_bf16(x, gy)) {
    TRIM_CHECK(gb == nullptr, "gemm_conv2d_backward_filter: the bias gradient sums an f32 gy");
    return gemm_conv2d_backward_filter(bf16_rounded_f32(x), bf16_rounded_f32(gy), gw, p, beta);
  }
  Geom g = geom(x.shape(), gw.shape(), gy.shape(), p);
  const float *X = x.data<float>(), *GY = gy.data<float>();
  float* GW = gw.data<float>();
  size_t wsize = size_t(g.O * g.K), colsize = g.direct ? 0 : size_t(g.K * g.P), bsize = gb ? size_t(g.O) : 0;
  // db (double, when the bias is wanted) sums each output plane of the image, read while the
  // product below has it in cache.
  auto accumulate = [&](int64_t n, float* col, float* dw, double* db) {
    for (int64_t gi = 0; gi < g.G; ++gi) {
      const float* xin = X + (n * g.C + gi * g.Cg) * g.H * g.W;
      const float* gyg = GY + (n * g.O + gi * g.Og) * g.P;
      if (!g.direct) im2col(xin, g, col);
      gemm(false, true, g.Og, g.K, g.P, 1.0f, gyg, g.direct ? xin : col, 1.0f, dw + gi * g.Og * g.K);
      if (db)
        for (int64_t o = 0; o < g.Og; ++o) {
          const float* row = gyg + o * g.P;
          db[gi * g.Og + o] += lanes(g.P, [row](int64_t i) { return row[i]; });
        }
    }
  };
  // beta != 0: the images' sum is formed on its own, then added, so the result equals adding a
  // separately computed gradient bit for bit.
  std::vector<float> fresh;
  std::vector<double> bias_sum(bsize, 0.0);
  float* out = GW;
  if (beta != 0.0f) {
    fresh.assign(wsize, 0.0f);
    out = fresh.data();
  } else {
    std::memset(GW, 0, sizeof(float) * wsize);
  }
  if (!spread_images(g.N)) {
    std::vector<float> col(colsize);
    for (int64_t n = 0; n < g.N; ++n) accumulate(n, col.data(), out, gb ? bias_sum.data() : nullptr);
  } else {
    // Each thread sums its own images; the partial sums are then added in thread order.
    std::vector<std::vector<float>> partial(static_cast<size_t>(omp_get_max_threads()));
    std::vector<std::vector<double>> partial_b(partial.size());
#pragma omp parallel
    {
      std::vector<float> col(colsize), dw(wsize, 0.0f);
      std::vector<double> db(bsize, 0.0);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) accumulate(n, col.data(), dw.data(), gb ? db.data() : nullptr);
      partial[size_t(omp_get_thread_num())] = std::move(dw);
      partial_b[size_t(omp_get_thread_num())] = std::move(db);
    }
    for (const auto& dw : partial)
      if (!dw.empty())
        for (size_t i = 0; i < wsize; ++i) out[i] += dw[i];
    for (const auto& db : partial_b)
      for (size_t i = 0; i < db.size(); ++i) bias_sum[i] += db[i];
  }
  if (beta != 0.0f)
    for (size_t i = 0; i < wsize; ++i) GW[i] = beta * GW[i] + fresh[i];
  if (gb) {  // rounded to float before adding, as bias_grad does
    float* GB = gb->data<float>();
    for (size_t i = 0; i < bsize; ++i) GB[i] = beta_b != 0.0f ? beta_b * GB[i] + float(bias_sum[i]) : float(bias_sum[i]);
  }
}

namespace {

// The backend until set_conv_backend: TRIM_CPU_CONV if set, else oneDNN where built in.
ConvBackend initial_backend() {
  const char* env = std::getenv("TRIM_CPU_CONV");
  if (!env || !*env) return have_onednn() ? ConvBackend::onednn : ConvBackend::im2col;
  const std::string v = env;
  if (v == "im2col") return ConvBackend::im2col;
  if (v == "onednn") {
    TRIM_CHECK(have_onednn(), "TRIM_CPU_CONV=onednn: this build of trim has no oneDNN (configure with TRIM_DNNL=ON)");
    return ConvBackend::onednn;
  }
  throw Error(cat("TRIM_CPU_CONV: expected im2col or onednn, found '", v, "'"));
}

std::atomic<ConvBackend>& backend_slot() {
  static std::atomic<ConvBackend> b{initial_backend()};
  return b;
}

bool use_onednn() { return backend_slot().load(std::memory_order_relaxed) == ConvBackend::onednn; }

// oneDNN's kernels for a single input channel (a grayscale stem) write their output in blocks of 16
// channels and reorder it to NCHW, which costs more than the product itself; im2col + GEMM writes
// NCHW directly. SAP's CNN's stem (250x1x28x28, 3x3, 64 channels) took 6.5 against 12.5 ms forward
// + backward at 2 threads (AMD EPYC, AVX-512), 0.91 against 1.70 ms at batch 64 (Intel Xeon, AMX),
// and its whole training step 0.95x in fp32. From 3 channels on (ResNet-18's 7x7 stem) oneDNN wins.
bool one_input_channel(const Shape& w, const Conv2dParams& p) { return w[1] == 1 && p.groups == 1; }

}  // namespace

bool have_onednn() {
#ifdef TRIM_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

ConvBackend conv_backend() { return backend_slot().load(); }

void set_conv_backend(ConvBackend b) {
  TRIM_CHECK(b != ConvBackend::onednn || have_onednn(),
             "set_conv_backend(onednn): this build of trim has no oneDNN (configure with TRIM_DNNL=ON)");
  backend_slot().store(b);
}

const char* conv_backend_name(ConvBackend b) { return b == ConvBackend::onednn ? "onednn" : "im2col"; }

#ifndef TRIM_HAVE_DNNL
// Never reached (use_onednn() is false without oneDNN); defined so the dispatch links.
void onednn_conv2d_forward(const Tensor&, const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) {
  throw Error("trim was built without oneDNN");
}
void onednn_conv2d_backward(const Tensor&, const Tensor&, const Tensor&, const ConvGrads&, const Conv2dParams&) {
  throw Error("trim was built without oneDNN");
}
void onednn_conv2d_backward_data(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) {
  throw Error("trim was built without oneDNN");
}
void onednn_conv2d_backward_filter(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&, float) {
  throw Error("trim was built without oneDNN");
}
#endif

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const Conv2dParams& p) {
  if (is_depthwise(x.shape(), w.shape(), p)) {
    depthwise_conv2d_forward(x, w, y, p);
    if (b.defined()) add_bias(y, b, y.size(2) * y.size(3));
    return;
  }
  if (use_onednn() && !one_input_channel(w.shape(), p)) return onednn_conv2d_forward(x, w, b, y, p);
  gemm_conv2d_forward(x, w, b, y, p);
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  if (is_depthwise(gx.shape(), w.shape(), p)) return depthwise_conv2d_backward_data(gy, w, gx, p);
  if (use_onednn() && !one_input_channel(w.shape(), p)) return onednn_conv2d_backward_data(gy, w, gx, p);
  gemm_conv2d_backward_data(gy, w, gx, p);
}

void conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta) {
  if (is_depthwise(x.shape(), gw.shape(), p)) return depthwise_conv2d_backward_filter(x, gy, gw, p, beta);
  if (use_onednn() && batched_bf16_conv_serves(x, gy, gy.shape(), p))
    return batched_bf16_conv2d_backward_filter(x, gy, gw, p, beta);
  if (use_onednn() && !one_input_channel(gw.shape(), p)) return onednn_conv2d_backward_filter(x, gy, gw, p, beta);
  gemm_conv2d_backward_filter(x, gy, gw, p, beta);
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGrads& g, const Conv2dParams& p) {
  TRIM_CHECK(gy.dtype() == DType::f32, cat("conv2d backward: gy is ", dtype_name(gy.dtype()), "; expected f32"));
  if (!g.gx && !g.gw) {  // the bias alone
    if (g.gb) bias_grad(gy, gy.size(2) * gy.size(3), *g.gb, g.beta_b);
    return;
  }
  const bool half = any_bf16(x, w), depthwise = is_depthwise(x.shape(), w.shape(), p);
  const bool onednn = use_onednn() && !depthwise && !one_input_channel(w.shape(), p);
  // oneDNN: gy converted once for both products (and f32's bias summed by the weights pass).
  if (onednn && (!half || bf16_native()) && !(g.gw && batched_bf16_conv_serves(x, w, gy.shape(), p)))
    return onednn_conv2d_backward(x, w, gy, g, p);
  // im2col + GEMM in f32: the bias summed in the weights pass's image loop.
  if (!onednn && !depthwise && !half && g.gw) {
    if (g.gx) gemm_conv2d_backward_data(gy, w, *g.gx, p);
    return gemm_conv2d_backward_filter(x, gy, *g.gw, p, g.beta_w, g.gb, g.beta_b);
  }
  conv2d_backward_parts(x, w, gy, g, p);  // otherwise the three kernels
}

}  // namespace trim::cpu
