#include "core/ops/shape_ops.h"

#include "core/autograd/node.h"

namespace trim {

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  if (any_requires_grad({&x})) {
    Shape in = x.shape();
    record(y, "reshape", {&x}, [in](std::span<const Tensor> g, const GradRequest&) { return std::vector<Tensor>{g[0].view(in)}; });
  }
  return y;
}

Tensor flatten(const Tensor& x) {
  TRIM_CHECK(x.ndim() >= 1, "flatten of a scalar");
  return reshape(x, Shape{x.size(0), x.numel() / std::max<int64_t>(x.size(0), 1)});
}

}  // namespace trim
