#include "core/ops/linear.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"
#include "core/ops/precision.h"

namespace trim {
namespace {

Tensor matrix(const Tensor& like, int64_t rows, int64_t cols) {
  return Tensor::empty(Shape{rows, cols}, DType::f32, like.device());
}

// C = alpha op(A) op(B) + beta C in the operands' precision: f32 x f32, or bf16 x bf16 with f32
// accumulation (gemm_bf16) -- both operands have the same dtype.
void product(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const Tensor& a, const Tensor& b, float beta,
             Tensor& c) {
  if (a.dtype() == DType::bf16)
    TRIM_DISPATCH(c.device(), gemm_bf16, ta, tb, m, n, k, 1.0f, a.data<bf16>(), b.data<bf16>(), beta, c.data<float>());
  else
    TRIM_DISPATCH(c.device(), gemm, ta, tb, m, n, k, 1.0f, a.data<float>(), b.data<float>(), beta, c.data<float>());
}

// Under the bf16 policy (core/ops/precision.h): t's bf16 operand, else t.
Tensor operand(const Tensor& t, bool half) { return half ? bf16_operand(t) : t; }

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_dtype("matmul", a, DType::f32, "a");
  check_dtype("matmul", b, DType::f32, "b");
  check_same_device("matmul", a, b);
  TRIM_CHECK(a.ndim() == 2 && b.ndim() == 2 && a.size(1) == b.size(0),
             cat("matmul: cannot multiply ", a.shape().str(), " by ", b.shape().str()));
  int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  const bool half = bf16_compute();
  Tensor ak = operand(a, half), bk = operand(b, half);
  Tensor y = matrix(a, m, n);
  product(false, false, m, n, k, ak, bk, 0.0f, y);
  if (any_requires_grad({&a, &b})) {
    Tensor sa = ak.detach(), sb = bk.detach();  // bf16: the rounded operands, half the memory
    record(y, "matmul", {&a, &b}, [sa, sb, m, n, k, half](std::span<const Tensor> gout, const GradRequest& req) {
      std::vector<Tensor> out(2);
      if (!req[0] && !req[1]) return out;
      const Tensor g = operand(gout[0], half);
      float beta = 0.0f;
      if (req[0]) {
        out[0] = req.target(0, Shape{m, k}, g.device(), &beta);  // g b^T
        product(false, true, m, k, n, g, sb, beta, out[0]);
      }
      if (req[1]) {
        out[1] = req.target(1, Shape{k, n}, g.device(), &beta);  // a^T g
        product(true, false, k, n, m, sa, g, beta, out[1]);
      }
      return out;
    }, {&a, &b});  // the inputs' versions: a registered bf16 copy is never bumped itself
  }
  return y;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_dtype("linear", x, DType::f32, "x");
  check_dtype("linear", w, DType::f32, "weight");
  check_same_device("linear", x, w);
  TRIM_CHECK(x.ndim() == 2 && w.ndim() == 2 && x.size(1) == w.size(1),
             cat("linear: input ", x.shape().str(), " does not match weight ", w.shape().str(), " ([out, in])"));
  int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  if (b.defined()) {
    check_same_device("linear", x, b);
    check_shape("linear", b, Shape{out}, "bias");
  }
  const bool half = bf16_compute();
  Tensor xk = operand(x, half), wk = operand(w, half);
  Tensor y = matrix(x, n, out);
  product(false, true, n, out, in, xk, wk, 0.0f, y);
  if (b.defined()) TRIM_DISPATCH(x.device(), add_bias, y, b, 1);
  if (any_requires_grad({&x, &w, &b})) {
    Tensor sx = xk.detach(), sw = wk.detach();  // bf16: the rounded operands, half the memory
    record(y, "linear", {&x, &w, &b}, [sx, sw, n, in, out, half](std::span<const Tensor> gout, const GradRequest& req) {
      const Tensor g = half && (req[0] || req[1]) ? bf16_operand(gout[0]) : gout[0];
      std::vector<Tensor> grads(3);
      float beta = 0.0f;
      if (req[0]) {
        grads[0] = matrix(g, n, in);  // g W
        product(false, false, n, in, out, g, sw, 0.0f, grads[0]);
      }
      if (req[1]) {  // g^T x, straight into the weight's gradient buffer when it has one
        grads[1] = req.target(1, Shape{out, in}, g.device(), &beta);
        product(true, false, out, in, n, g, sx, beta, grads[1]);
      }
      if (req[2]) {
        grads[2] = req.target(2, Shape{out}, g.device(), &beta);
        TRIM_DISPATCH(g.device(), bias_grad, gout[0], 1, grads[2], beta);
      }
      return grads;
    }, {&sx, &w});  // the weight's own version: its bf16 copy is a function of it
  }
  return y;
}

}  // namespace trim
