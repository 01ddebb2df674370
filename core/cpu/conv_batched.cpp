// The backward-weights pass of bf16 convolutions with small output planes, as one matrix product
// over the whole batch: the im2col columns of every image sit side by side in one bf16 matrix
// col [K, N * P] (K = C * kh * kw, P = Ho * Wo), gy [N, O, P] is transposed to GY' [O, N * P], and
// dW [O, K] = GY' x col^T is a single gemm_bf16 (oneDNN's matmul).
//
// Why: oneDNN's convolution kernels tile the output width, and a 3x3 plane leaves their tiles
// mostly empty. On SAP's CNN's last convolution (256 -> 512 channels at 3x3, batch 250; AMX CPU,
// 2 threads) the bf16 primitives' three passes took 48-55 ms, about f32's 52; with this backward-
// weights pass 36 ms. Forward and backward data done the same way were no faster than oneDNN's
// primitives (39 ms for the three passes: the column matrix costs what the product saves), and
// on 7x7 planes the batched pass lost as often as it won (SAP's CNN's 7x7 layer at batch 250:
// 35 ms against 27), so only planes of at most kBatchedBf16MaxPlane pixels take it. Same
// arithmetic as the policy asks: bf16 operands (f32 inputs rounded to nearest even on the way
// in), f32 accumulation and output. Measured on AMX only, so only CPUs with AMX take it.
#include <cstring>
#include <vector>

#include "core/bf16.h"
#include "core/cpu/bf16_support.h"
#include "core/cpu/conv_impl.h"
#include "core/cpu/parallel.h"
#include "core/error.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {
namespace {

struct Dims {
  int64_t N, C, H, W, O, K, P;
};

Dims dims(const Shape& xs, const Shape& ws, const Shape& ys) {
  return {xs[0], xs[1], xs[2], xs[3], ws[0], ws[1] * ws[2] * ws[3], ys[2] * ys[3]};
}

// x as f32 values (a bf16 tensor widened; an f32 one as is: the columns round it).
Tensor f32_values(const Tensor& t) { return t.dtype() == DType::bf16 ? bf16_rounded_f32(t) : t; }

// col [K, N * P] in bf16: image n's im2col block [K, P] at columns n * P. Scratch tensors, not
// vectors: trim's allocator counts them, and nothing zero-fills what is written next.
Tensor batch_columns(const Tensor& x_in, const Shape& ws, const Shape& ys, const Conv2dParams& p) {
  const Tensor x = f32_values(x_in);
  const Dims d = dims(x.shape(), ws, ys);
  const int64_t NP = d.N * d.P;
  Tensor col = Tensor::empty(Shape{d.K * NP}, DType::bf16);
  const float* X = x.data<float>();
  bf16* out = col.data<bf16>();
  parallel_for(d.N, d.K * NP >= kParallelGrain, [&](int64_t n) {
    thread_local std::vector<float> one;
    one.resize(size_t(d.K * d.P));
    im2col_image(X + n * d.C * d.H * d.W, x.shape(), ws, ys, p, one.data());
    for (int64_t k = 0; k < d.K; ++k)
      for (int64_t j = 0; j < d.P; ++j) out[k * NP + n * d.P + j] = float_to_bf16(one[size_t(k * d.P + j)]);
  });
  return col;
}

// gy [N, O, P] (f32 or bf16) as GY' [O, N * P] in bf16.
Tensor transposed_gradient(const Tensor& gy, const Dims& d) {
  const int64_t NP = d.N * d.P;
  Tensor out = Tensor::empty(Shape{d.O * NP}, DType::bf16);
  bf16* o = out.data<bf16>();
  const bool half = gy.dtype() == DType::bf16;
  const bf16* h = half ? gy.data<bf16>() : nullptr;
  const float* f = half ? nullptr : gy.data<float>();
  parallel_for(d.O, d.O * NP >= kParallelGrain, [&](int64_t oc) {
    for (int64_t n = 0; n < d.N; ++n) {
      const int64_t from = (n * d.O + oc) * d.P, to = oc * NP + n * d.P;
      if (half)
        std::memcpy(o + to, h + from, sizeof(bf16) * size_t(d.P));
      else
        for (int64_t j = 0; j < d.P; ++j) o[to + j] = float_to_bf16(f[from + j]);
    }
  });
  return out;
}

}  // namespace

bool batched_bf16_conv_serves(const Tensor& a, const Tensor& b, const Shape& ys, const Conv2dParams& p) {
  return any_bf16(a, b) && bf16_amx() && p.groups == 1 && ys[2] * ys[3] <= kBatchedBf16MaxPlane;
}

void batched_bf16_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p,
                                         float beta) {
  const Dims d = dims(x.shape(), gw.shape(), gy.shape());
  const int64_t NP = d.N * d.P;
  const Tensor col = batch_columns(x, gw.shape(), gy.shape(), p);
  const Tensor gyt = transposed_gradient(gy, d);
  // beta != 0: the fresh gradient is formed on its own, then added, so the result equals adding a
  // separately computed gradient bit for bit (as the other paths do).
  const int64_t n = d.O * d.K;
  const Tensor fresh = beta != 0.0f ? Tensor::empty(Shape{n}) : Tensor();
  float* GW = gw.data<float>();
  float* out = beta != 0.0f ? fresh.data<float>() : GW;
  gemm_bf16(false, true, d.O, d.K, NP, 1.0f, gyt.data<bf16>(), col.data<bf16>(), 0.0f, out);
  if (beta != 0.0f)
    for (int64_t i = 0; i < n; ++i) GW[i] = beta * GW[i] + out[i];
}

}  // namespace trim::cpu
