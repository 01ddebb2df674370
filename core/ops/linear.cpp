#include "core/ops/linear.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {
namespace {

Tensor matrix(const Tensor& like, int64_t rows, int64_t cols) {
  return Tensor::empty(Shape{rows, cols}, DType::f32, like.device());
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_dtype("matmul", a, DType::f32, "a");
  check_dtype("matmul", b, DType::f32, "b");
  check_same_device("matmul", a, b);
  TRIM_CHECK(a.ndim() == 2 && b.ndim() == 2 && a.size(1) == b.size(0),
             cat("matmul: cannot multiply ", a.shape().str(), " by ", b.shape().str()));
  int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  Tensor y = matrix(a, m, n);
  TRIM_DISPATCH(a.device(), gemm, false, false, m, n, k, 1.0f, a.data<float>(), b.data<float>(), 0.0f, y.data<float>());
  if (any_requires_grad({&a, &b})) {
    Tensor sa = a.detach(), sb = b.detach();
    record(y, "matmul", {&a, &b}, [sa, sb, m, n, k](std::span<const Tensor> gout, const GradRequest& req) {
      const Tensor& g = gout[0];
      std::vector<Tensor> out(2);
      float beta = 0.0f;
      if (req[0]) {
        out[0] = req.target(0, Shape{m, k}, g.device(), &beta);  // g b^T
        TRIM_DISPATCH(g.device(), gemm, false, true, m, k, n, 1.0f, g.data<float>(), sb.data<float>(), beta,
                      out[0].data<float>());
      }
      if (req[1]) {
        out[1] = req.target(1, Shape{k, n}, g.device(), &beta);  // a^T g
        TRIM_DISPATCH(g.device(), gemm, true, false, k, n, m, 1.0f, sa.data<float>(), g.data<float>(), beta,
                      out[1].data<float>());
      }
      return out;
    }, {&sa, &sb});
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
  Tensor y = matrix(x, n, out);
  TRIM_DISPATCH(x.device(), gemm, false, true, n, out, in, 1.0f, x.data<float>(), w.data<float>(), 0.0f, y.data<float>());
  if (b.defined()) TRIM_DISPATCH(x.device(), add_bias, y, b, 1);
  if (any_requires_grad({&x, &w, &b})) {
    Tensor sx = x.detach(), sw = w.detach();
    record(y, "linear", {&x, &w, &b}, [sx, sw, n, in, out](std::span<const Tensor> gout, const GradRequest& req) {
      const Tensor& g = gout[0];
      std::vector<Tensor> grads(3);
      float beta = 0.0f;
      if (req[0]) {
        grads[0] = matrix(g, n, in);  // g W
        TRIM_DISPATCH(g.device(), gemm, false, false, n, in, out, 1.0f, g.data<float>(), sw.data<float>(), 0.0f,
                      grads[0].data<float>());
      }
      if (req[1]) {  // g^T x, straight into the weight's gradient buffer when it has one
        grads[1] = req.target(1, Shape{out, in}, g.device(), &beta);
        TRIM_DISPATCH(g.device(), gemm, true, false, out, in, n, 1.0f, g.data<float>(), sx.data<float>(), beta,
                      grads[1].data<float>());
      }
      if (req[2]) {
        grads[2] = req.target(2, Shape{out}, g.device(), &beta);
        TRIM_DISPATCH(g.device(), bias_grad, g, 1, grads[2], beta);
      }
      return grads;
    }, {&sx, &sw});
  }
  return y;
}

}  // namespace trim
