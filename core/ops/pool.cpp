#include "core/ops/pool.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {
namespace {

Tensor pooled(const char* op, const Tensor& x, const Pool2dParams& p) {
  check_dtype(op, x, DType::f32, "input");
  TRIM_CHECK(x.ndim() == 4, cat(op, ": expected [N, C, H, W], got ", x.shape().str()));
  TRIM_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 &&
                 p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w,
             cat(op, ": bad window ", p.kernel_h, "x", p.kernel_w, " stride ", p.stride_h, "x", p.stride_w, " padding ",
                 p.pad_h, "x", p.pad_w, " (padding must be at most half the window)"));
  int64_t ho = window_out(x.size(2), p.kernel_h, p.stride_h, p.pad_h);
  int64_t wo = window_out(x.size(3), p.kernel_w, p.stride_w, p.pad_w);
  TRIM_CHECK(ho > 0 && wo > 0, cat(op, ": window larger than input ", x.shape().str()));
  return Tensor::empty(Shape{x.size(0), x.size(1), ho, wo}, DType::f32, x.device());
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  Tensor y = pooled("max_pool2d", x, p);
  Tensor indices = Tensor::empty(y.shape(), DType::i32, x.device());
  TRIM_DISPATCH(x.device(), max_pool2d_forward, x, y, indices, p);
  if (any_requires_grad({&x})) {
    Shape shape = x.shape();
    record(y, "max_pool2d", {&x}, [shape, indices, p](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = Tensor::empty(shape, DType::f32, g.device());
      TRIM_DISPATCH(g.device(), max_pool2d_backward, indices, g, gx, p);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  Tensor y = pooled("avg_pool2d", x, p);
  TRIM_DISPATCH(x.device(), avg_pool2d_forward, x, y, p);
  if (any_requires_grad({&x})) {
    Shape shape = x.shape();
    record(y, "avg_pool2d", {&x}, [shape, p](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = Tensor::empty(shape, DType::f32, g.device());
      TRIM_DISPATCH(g.device(), avg_pool2d_backward, g, gx, p);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

}  // namespace trim
