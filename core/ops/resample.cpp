#include "core/ops/resample.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {

Tensor shortcut_a(const Tensor& x, int stride, int64_t pad_before, int64_t out_channels) {
  check_dtype("shortcut_a", x, DType::f32, "input");
  TRIM_CHECK(x.ndim() == 4, cat("shortcut_a: expected [N, C, H, W], got ", x.shape().str()));
  TRIM_CHECK(stride >= 1 && pad_before >= 0 && out_channels >= pad_before + x.size(1),
             cat("shortcut_a: stride ", stride, ", ", pad_before, " channels of padding in front and ", out_channels,
                 " output channels do not fit input ", x.shape().str()));
  int64_t ho = (x.size(2) + stride - 1) / stride, wo = (x.size(3) + stride - 1) / stride;
  Tensor y = Tensor::empty(Shape{x.size(0), out_channels, ho, wo}, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), shortcut_a_forward, x, stride, pad_before, y);
  if (any_requires_grad({&x})) {
    Shape shape = x.shape();
    record(y, "shortcut_a", {&x}, [shape, stride, pad_before](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = Tensor::empty(shape, DType::f32, g.device());
      TRIM_DISPATCH(g.device(), shortcut_a_backward, g, stride, pad_before, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_dtype("adaptive_avg_pool2d", x, DType::f32, "input");
  TRIM_CHECK(x.ndim() == 4 && x.size(2) >= 1 && x.size(3) >= 1,
             cat("adaptive_avg_pool2d: expected [N, C, H, W], got ", x.shape().str()));
  TRIM_CHECK(out_h >= 1 && out_w >= 1, cat("adaptive_avg_pool2d: output size ", out_h, "x", out_w, " must be positive"));
  Tensor y = Tensor::empty(Shape{x.size(0), x.size(1), out_h, out_w}, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), adaptive_avg_pool2d_forward, x, y);
  if (any_requires_grad({&x})) {
    Shape shape = x.shape();
    record(y, "adaptive_avg_pool2d", {&x}, [shape](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = Tensor::empty(shape, DType::f32, g.device());
      TRIM_DISPATCH(g.device(), adaptive_avg_pool2d_backward, g, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

}  // namespace trim
