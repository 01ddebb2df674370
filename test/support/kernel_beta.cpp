#include "test/support/kernel_beta.h"

#include <cmath>

#include "test/support/kernel_call.h"

namespace trim::test {
namespace {

// Deterministic values in [-1, 1) (a small LCG: no dependency on trim's generators).
std::vector<float> values(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 12345u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = float(s >> 8) / float(1u << 23) - 1.0f;
  }
  return v;
}

Tensor make(const Shape& s, uint32_t seed, Device d) { return Tensor::from_vector(s, values(s.numel(), seed), d); }

// The buffer a beta call starts from: fixed values for beta = 1, NaN for beta = 0.
Tensor start(const Shape& s, float beta, uint32_t seed, Device d) {
  return beta != 0.0f ? make(s, seed, d) : Tensor::full(s, NAN, DType::f32, d);
}

}  // namespace

std::vector<BetaOutput> run_beta_kernels(Device d, float beta) {
  std::vector<BetaOutput> out;
  auto record = [&](const std::string& name, const Tensor& before_copy, const Tensor& after) {
    out.push_back({name, before_copy.to_vector<float>(), after.to_vector<float>()});
  };

  // bias_grad: conv-like (inner = H*W) and linear-like (inner = 1) layouts.
  struct Bias {
    Shape gy;
    int64_t inner;
  };
  for (const Bias& b : {Bias{Shape{3, 5, 7, 6}, 42}, Bias{Shape{37, 11}, 1}, Bias{Shape{2, 300, 1, 1}, 1}}) {
    Tensor gy = make(b.gy, 1, d), gb = start(Shape{b.gy[1]}, beta, 2, d), before = gb.clone();
    TRIM_TEST_KERNEL(d, bias_grad, gy, b.inner, gb, beta);
    record("bias_grad gy" + b.gy.str(), before, gb);
  }

  // conv2d_backward_filter: batch 1 and 5 (the CPU spreads images across threads only for the
  // larger batch), grouped with padding, strided, and the 1x1 direct path.
  for (const ConvCase& c : {ConvCase{"", Shape{1, 4, 6, 6}, Shape{6, 2, 3, 3}, {1, 1, 1, 1, 1, 1, 2}},
                            ConvCase{"", Shape{5, 4, 6, 6}, Shape{6, 2, 3, 3}, {1, 1, 1, 1, 1, 1, 2}},
                            ConvCase{"", Shape{5, 3, 9, 8}, Shape{4, 3, 3, 3}, {2, 2, 0, 0, 1, 1, 1}},
                            ConvCase{"", Shape{5, 8, 4, 4}, Shape{16, 8, 1, 1}, {}}}) {
    Tensor x = make(c.x, 3, d), gy = make(c.y(), 4, d);
    Tensor gw = start(c.w, beta, 5, d), before = gw.clone();
    TRIM_TEST_KERNEL(d, conv2d_backward_filter, x, gy, gw, c.p, beta);
    record("conv2d_backward_filter x" + c.x.str() + " w" + c.w.str(), before, gw);
  }

  // batch_norm_backward: statistics from a forward pass on the same device.
  for (const Shape& s : {Shape{4, 3, 5, 5}, Shape{16, 7}}) {
    Shape c{s[1]};
    Tensor x = make(s, 6, d), gy = make(s, 7, d), gamma = make(c, 8, d), bn_beta = make(c, 9, d);
    Tensor rm = Tensor::zeros(c, DType::f32, d), rv = Tensor::full(c, 1.0f, DType::f32, d);
    Tensor y = Tensor::empty(s, DType::f32, d), mean = Tensor::empty(c, DType::f32, d),
           invstd = Tensor::empty(c, DType::f32, d);
    TRIM_TEST_KERNEL(d, batch_norm_forward_train, x, gamma, bn_beta, rm, rv, 0.1f, 1e-5f, y, mean, invstd);
    Tensor gx = Tensor::full(s, NAN, DType::f32, d), gx_before = gx.clone();
    Tensor gg = start(c, beta, 10, d), gb = start(c, beta, 11, d), gg_before = gg.clone(), gb_before = gb.clone();
    TRIM_TEST_KERNEL(d, batch_norm_backward, x, gy, gamma, mean, invstd, 1e-5f, gx, gg, gb, beta);
    record("batch_norm_backward gx x" + s.str(), gx_before, gx);
    record("batch_norm_backward ggamma x" + s.str(), gg_before, gg);
    record("batch_norm_backward gbeta x" + s.str(), gb_before, gb);
  }

  // batch_norm_relu_backward (the fused pair): the same, with the mask from the fused forward.
  for (const Shape& s : {Shape{4, 3, 5, 5}, Shape{16, 7}}) {
    Shape c{s[1]};
    Tensor x = make(s, 12, d), gy = make(s, 13, d), gamma = make(c, 14, d), bn_beta = make(c, 15, d);
    Tensor rm = Tensor::zeros(c, DType::f32, d), rv = Tensor::full(c, 1.0f, DType::f32, d);
    Tensor y = Tensor::empty(s, DType::f32, d), mean = Tensor::empty(c, DType::f32, d),
           invstd = Tensor::empty(c, DType::f32, d);
    TRIM_TEST_KERNEL(d, batch_norm_relu_forward_train, x, gamma, bn_beta, rm, rv, 0.1f, 1e-5f, y, mean, invstd);
    Tensor gx = Tensor::full(s, NAN, DType::f32, d), gx_before = gx.clone();
    Tensor gg = start(c, beta, 16, d), gb = start(c, beta, 17, d), gg_before = gg.clone(), gb_before = gb.clone();
    TRIM_TEST_KERNEL(d, batch_norm_relu_backward, x, y, gy, gamma, mean, invstd, 1e-5f, gx, gg, gb, beta);
    record("batch_norm_relu_backward gx x" + s.str(), gx_before, gx);
    record("batch_norm_relu_backward ggamma x" + s.str(), gg_before, gg);
    record("batch_norm_relu_backward gbeta x" + s.str(), gb_before, gb);
  }
  return out;
}

}  // namespace trim::test
