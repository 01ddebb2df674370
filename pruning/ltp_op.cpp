#include "pruning/ltp_op.h"

#include "core/autograd/node.h"
#include "pruning/ltp_kernels.h"

namespace trim {
namespace {

void check_inputs(const char* op, const Tensor& w, const Tensor& tau, const Tensor& temp) {
  check_dtype(op, w, DType::f32, "w");
  check_dtype(op, tau, DType::f32, "tau");
  check_dtype(op, temp, DType::f32, "temp");
  check_shape(op, tau, Shape{1}, "tau");
  check_shape(op, temp, Shape{1}, "temp");
  check_same_device(op, w, tau);
  check_same_device(op, w, temp);
  TRIM_CHECK(w.numel() > 0, cat(op, ": empty weight ", w.shape().str()));
}

LtpMasked mask(const Tensor& w, const Tensor& tau, const Tensor& temp, bool with_l0) {
  const char* op = with_l0 ? "ltp_mask_l0" : "ltp_mask";
  check_inputs(op, w, tau, temp);
  const Device dev = w.device();
  ltp::MaskForwardArgs a;
  a.w = w;
  a.tau = tau;
  a.temp = temp;
  a.v = Tensor::empty(w.shape(), DType::f32, dev);
  if (with_l0) {
    a.l0 = Tensor::empty(Shape{}, DType::f32, dev);
    a.dl0 = Tensor::empty(Shape{1}, DType::f32, dev);
  }
  TRIM_DISPATCH(dev, ltp_mask_forward, a);
  LtpMasked out{a.v, a.l0};

  if (any_requires_grad({&w, &tau})) {
    Tensor ws = w.detach(), ts = tau.detach(), temps = temp.detach();
    record(out.v, "ltp_mask", {&w, &tau}, [ws, ts, temps](std::span<const Tensor> gout, const GradRequest& req) {
      const Tensor& g = gout[0];
      ltp::MaskBackwardArgs b;
      b.w = ws;
      b.tau = ts;
      b.temp = temps;
      b.g = g;
      if (req[0]) b.gw = req.target(0, ws.shape(), ws.device(), &b.beta);
      if (req[1]) b.gtau = Tensor::empty(Shape{1}, DType::f32, ws.device());
      TRIM_DISPATCH(ws.device(), ltp_mask_backward, b);
      return std::vector<Tensor>{b.gw, b.gtau};
    }, {&ws, &ts});
  }
  if (with_l0 && any_requires_grad({&tau})) {
    Tensor dl0 = a.dl0;
    record(out.l0, "ltp_soft_l0", {&tau}, [dl0](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gtau = Tensor::empty(Shape{1}, DType::f32, dl0.device());
      TRIM_DISPATCH(dl0.device(), ltp_l0_backward, g, dl0, gtau);
      return std::vector<Tensor>{gtau};
    });
  }
  return out;
}

}  // namespace

Tensor ltp_temperature(const Tensor& w, double t0) {
  check_dtype("ltp_temperature", w, DType::f32, "w");
  TRIM_CHECK(w.numel() > 0, cat("ltp_temperature: empty weight ", w.shape().str()));
  Tensor temp = Tensor::empty(Shape{1}, DType::f32, w.device());
  TRIM_DISPATCH(w.device(), ltp_temperature, w, t0, temp);
  return temp;
}

LtpMasked ltp_mask_l0(const Tensor& w, const Tensor& tau, const Tensor& temp) { return mask(w, tau, temp, true); }

Tensor ltp_mask(const Tensor& w, const Tensor& tau, const Tensor& temp) { return mask(w, tau, temp, false).v; }

void ltp_count_clamped(const Tensor& g, float clip, Tensor& count) {
  const char* op = "ltp_count_clamped";
  check_dtype(op, g, DType::f32, "g");
  check_dtype(op, count, DType::i32, "count");
  check_shape(op, count, g.shape(), "count");
  check_same_device(op, g, count);
  TRIM_CHECK(clip >= 0.0f, cat(op, ": clip must be >= 0, found ", clip));
  TRIM_DISPATCH(g.device(), ltp_count_clamped, g, clip, count);
}

}  // namespace trim
