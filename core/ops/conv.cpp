#include "core/ops/conv.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"
#include "core/ops/precision.h"

namespace trim {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_dtype("conv2d", x, DType::f32, "input");
  check_dtype("conv2d", w, DType::f32, "weight");
  check_same_device("conv2d", x, w);
  TRIM_CHECK(x.ndim() == 4 && w.ndim() == 4,
             cat("conv2d: expected input [N, C, H, W] and weight [O, C/g, kh, kw], got ", x.shape().str(), " and ",
                 w.shape().str()));
  TRIM_CHECK(p.groups >= 1 && x.size(1) % p.groups == 0 && w.size(0) % p.groups == 0 &&
                 w.size(1) * p.groups == x.size(1),
             cat("conv2d: weight ", w.shape().str(), " with groups=", p.groups, " does not fit input ", x.shape().str()));
  TRIM_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
             "conv2d: stride and dilation must be >= 1 and padding >= 0");
  int64_t ho = window_out(x.size(2), int(w.size(2)), p.stride_h, p.pad_h, p.dil_h);
  int64_t wo = window_out(x.size(3), int(w.size(3)), p.stride_w, p.pad_w, p.dil_w);
  TRIM_CHECK(ho > 0 && wo > 0, cat("conv2d: kernel ", w.shape().str(), " does not fit input ", x.shape().str()));
  if (b.defined()) {
    check_dtype("conv2d", b, DType::f32, "bias");
    check_same_device("conv2d", x, b);
    check_shape("conv2d", b, Shape{w.size(0)}, "bias");
  }
  // Under the bf16 policy (core/ops/precision.h) the weight is its bf16 copy and the kernels, seeing
  // a bf16 operand, compute in bf16 with f32 accumulation; the input stays f32 (the kernel rounds
  // it on the way in) and is saved as is: it is usually saved by the op before anyway.
  // Convolutions with fewer than kBf16MinChannels input channels per group (stems, depthwise)
  // stay f32 (precision.h says why).
  const bool half = bf16_compute() && w.size(1) >= kBf16MinChannels;
  Tensor wk = half ? bf16_operand(w) : w;
  Tensor y = Tensor::empty(Shape{x.size(0), w.size(0), ho, wo}, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), conv2d_forward, x, wk, b, y, p);
  if (any_requires_grad({&x, &w, &b})) {
    Tensor sx = x.detach(), sw = wk.detach();
    record(y, "conv2d", {&x, &w, &b}, [sx, sw, p](std::span<const Tensor> gout, const GradRequest& req) {
      // One kernel for the three gradients, so that a backend shares their work (kernel_list.inc);
      // under bf16 it rounds the output gradient once for both products.
      const Tensor& g = gout[0];
      std::vector<Tensor> grads(3);
      ConvGrads out;
      if (req[0]) {
        grads[0] = Tensor::empty(sx.shape(), DType::f32, g.device());
        out.gx = &grads[0];
      }
      if (req[1]) {  // straight into the weight's gradient buffer when it has one
        grads[1] = req.target(1, sw.shape(), g.device(), &out.beta_w);
        out.gw = &grads[1];
      }
      if (req[2]) {
        grads[2] = req.target(2, Shape{sw.size(0)}, g.device(), &out.beta_b);
        out.gb = &grads[2];
      }
      TRIM_DISPATCH(g.device(), conv2d_backward, sx, sw, g, out, p);
      return grads;
    }, {&sx, &w});  // the weight's own version: its bf16 copy is a function of it
  }
  return y;
}

}  // namespace trim
