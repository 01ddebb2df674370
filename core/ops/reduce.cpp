#include "core/ops/reduce.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {
namespace {

// Sum of x times s, recorded as one op whose backward broadcasts g * s.
Tensor scaled_sum(const Tensor& x, float s, const char* name) {
  check_dtype(name, x, DType::f32, "x");
  Tensor y = Tensor::empty(Shape{}, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), sum, x, s, y);
  if (any_requires_grad({&x})) {
    Shape shape = x.shape();
    record(y, name, {&x}, [shape, s](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = Tensor::empty(shape, DType::f32, g.device());
      TRIM_DISPATCH(g.device(), broadcast_scalar, g, s, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

}  // namespace

Tensor sum(const Tensor& x) { return scaled_sum(x, 1.0f, "sum"); }

Tensor mean(const Tensor& x) {
  TRIM_CHECK(x.numel() > 0, "mean of an empty tensor");
  return scaled_sum(x, 1.0f / float(x.numel()), "mean");
}

Tensor global_avg_pool(const Tensor& x) {
  check_dtype("global_avg_pool", x, DType::f32, "x");
  TRIM_CHECK(x.ndim() == 4, cat("global_avg_pool: expected [N, C, H, W], got ", x.shape().str()));
  Tensor y = Tensor::empty(Shape{x.size(0), x.size(1)}, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), global_avg_pool_forward, x, y);
  if (any_requires_grad({&x})) {
    Shape shape = x.shape();
    record(y, "global_avg_pool", {&x}, [shape](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = Tensor::empty(shape, DType::f32, g.device());
      TRIM_DISPATCH(g.device(), global_avg_pool_backward, g, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

}  // namespace trim
