#include "core/ops/conv_infer.h"

#include "core/cpu/conv_direct.h"
#include "core/cpu/conv_infer.h"
#include "core/error.h"
#include "core/ops/conv.h"
#include "core/ops/elementwise.h"

namespace trim {

PreparedConv2d::PreparedConv2d(Tensor weight, Tensor bias, const Conv2dParams& p)
    : weight_(std::move(weight)), bias_(std::move(bias)), p_(p) {
  check_dtype("PreparedConv2d", weight_, DType::f32, "weight");
  TRIM_CHECK(weight_.ndim() == 4, cat("PreparedConv2d: expected a weight [O, C, kh, kw], found ", weight_.shape().str()));
  if (bias_.defined()) check_shape("PreparedConv2d", bias_, Shape{weight_.size(0)}, "bias");
  if (weight_.device().is_cpu() && p_.groups == 1) cpu_ = cpu::make_infer_conv(weight_, bias_, p_);
  // Any plane 16 x 16 or larger qualifies here; forward() checks the input's.
  if (weight_.device().is_cpu() && cpu::direct_conv3x3_serves(weight_.shape(), p_, 16, 16))
    direct_ = cpu::make_direct_conv3x3(weight_, bias_);
}

Tensor PreparedConv2d::forward(const Tensor& x, Epilogue act, const Tensor& residual) const {
  const bool cpu_f32 = x.device().is_cpu() && x.dtype() == DType::f32 && x.ndim() == 4 && x.size(1) == weight_.size(1);
  const bool direct = direct_ && cpu_f32 && cpu::direct_conv3x3_serves(weight_.shape(), p_, x.size(2), x.size(3));
  if (!direct && !(cpu_ && cpu_f32)) {
    Tensor y = conv2d(x, weight_, bias_, p_);  // conv2d checks the arguments and names what is wrong
    return activate(residual.defined() ? add(y, residual) : y, act);
  }
  const int64_t ho = window_out(x.size(2), int(weight_.size(2)), p_.stride_h, p_.pad_h, p_.dil_h);
  const int64_t wo = window_out(x.size(3), int(weight_.size(3)), p_.stride_w, p_.pad_w, p_.dil_w);
  TRIM_CHECK(ho > 0 && wo > 0, cat("PreparedConv2d: input ", x.shape().str(), " is smaller than the kernel"));
  Tensor y = Tensor::empty(Shape{x.size(0), weight_.size(0), ho, wo}, DType::f32, x.device());
  if (residual.defined()) {
    check_dtype("PreparedConv2d", residual, DType::f32, "residual");
    TRIM_CHECK(residual.device().is_cpu(), "PreparedConv2d: the residual must be on the input's device");
    check_shape("PreparedConv2d", residual, y.shape(), "residual");
  }
  if (direct)
    cpu::direct_conv3x3_forward(*direct_, x, residual, act, y);
  else
    cpu::infer_conv_forward(*cpu_, x, residual, act, y);
  return y;
}

}  // namespace trim

// Builds without oneDNN: no prepared CPU path (PreparedConv2d runs conv2d).
#ifndef TRIM_HAVE_DNNL
namespace trim::cpu {
std::shared_ptr<InferConv> make_infer_conv(const Tensor&, const Tensor&, const Conv2dParams&) { return nullptr; }
void infer_conv_forward(InferConv&, const Tensor&, const Tensor&, Epilogue, Tensor&) {
  throw Error("infer_conv_forward: this build has no oneDNN");
}
}  // namespace trim::cpu
#endif
