#include "core/ops/batchnorm.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"
#include "core/ops/elementwise.h"

namespace trim {
namespace {

void check_args(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                const Tensor& running_var) {
  check_dtype(op, x, DType::f32, "input");
  TRIM_CHECK(x.ndim() == 2 || x.ndim() == 4, cat(op, ": expected [N, C] or [N, C, H, W], got ", x.shape().str()));
  Shape c{x.size(1)};
  for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var}) {
    check_shape(op, *t, c, "a per-channel tensor");
    check_same_device(op, x, *t);
  }
}

void check_training(const char* op, const Tensor& x) {
  TRIM_CHECK(x.numel() / x.size(1) > 1, cat(op, ": training needs more than one value per channel, got input ",
                                            x.shape().str()));
}

// gamma's and beta's gradient tensors for the backward kernel: straight into their gradient
// buffers when both have one in the same state, else fresh ones (*param_beta = 0).
std::pair<Tensor, Tensor> param_grads(const GradRequest& req, const Shape& c, Device d, float* param_beta) {
  float b1 = 0.0f, b2 = 0.0f;
  Tensor gg = req.target(1, c, d, &b1), gb = req.target(2, c, d, &b2);
  if (b1 != b2) {
    gg = Tensor::empty(c, DType::f32, d);
    gb = Tensor::empty(c, DType::f32, d);
    b1 = 0.0f;
  }
  *param_beta = b1;
  return {gg, gb};
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, float momentum, float eps) {
  check_args("batch_norm", x, gamma, beta, running_mean, running_var);
  Shape c{x.size(1)};
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  if (!training) {
    TRIM_DISPATCH(x.device(), batch_norm_forward_eval, x, gamma, beta, running_mean, running_var, eps, y);
    if (any_requires_grad({&x, &gamma, &beta})) {
      // y = gamma (x - mean) / sqrt(var + eps) + beta with constant statistics: every gradient is
      // itself an evaluation-mode batch norm or a per-channel sum.
      Tensor sx = x.detach(), sg = gamma.detach(), rm = running_mean.detach(), rv = running_var.detach();
      record(y, "batch_norm_eval", {&x, &gamma, &beta}, [sx, sg, rm, rv, eps](std::span<const Tensor> gout, const GradRequest& need) {
        const Tensor& g = gout[0];
        Device d = g.device();
        Shape c = sg.shape();
        int64_t inner = g.numel() / (g.size(0) * g.size(1));
        Tensor zeros = Tensor::zeros(c, DType::f32, d);
        std::vector<Tensor> grads(3);
        if (need[0]) {  // gy * gamma / sqrt(var + eps)
          grads[0] = Tensor::empty(g.shape(), DType::f32, d);
          TRIM_DISPATCH(d, batch_norm_forward_eval, g, sg, zeros, zeros, rv, eps, grads[0]);
        }
        if (need[1]) {  // sum of gy * (x - mean) / sqrt(var + eps)
          Tensor xhat = Tensor::empty(g.shape(), DType::f32, d), ones = Tensor::full(c, 1.0f, DType::f32, d);
          TRIM_DISPATCH(d, batch_norm_forward_eval, sx, ones, zeros, rm, rv, eps, xhat);
          TRIM_DISPATCH(d, mul, g, xhat, xhat);
          float beta = 0.0f;
          grads[1] = need.target(1, c, d, &beta);
          TRIM_DISPATCH(d, bias_grad, xhat, inner, grads[1], beta);
        }
        if (need[2]) {
          float beta = 0.0f;
          grads[2] = need.target(2, c, d, &beta);
          TRIM_DISPATCH(d, bias_grad, g, inner, grads[2], beta);
        }
        return grads;
      }, {&sx, &sg, &rm, &rv});
    }
    return y;
  }
  check_training("batch_norm", x);
  Tensor save_mean = Tensor::empty(c, DType::f32, x.device()), save_invstd = Tensor::empty(c, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), batch_norm_forward_train, x, gamma, beta, running_mean, running_var, momentum, eps, y,
                save_mean, save_invstd);
  if (any_requires_grad({&x, &gamma, &beta})) {
    Tensor sx = x.detach(), sg = gamma.detach();
    record(y, "batch_norm", {&x, &gamma, &beta},
           [sx, sg, save_mean, save_invstd, eps](std::span<const Tensor> gout, const GradRequest& req) {
             const Tensor& g = gout[0];
             // One kernel yields all three gradients (cuDNN's backward does too).
             float b1 = 0.0f;
             auto [gg, gb] = param_grads(req, sg.shape(), g.device(), &b1);
             std::vector<Tensor> grads{Tensor::empty(sx.shape(), DType::f32, g.device()), gg, gb};
             TRIM_DISPATCH(g.device(), batch_norm_backward, sx, g, sg, save_mean, save_invstd, eps, grads[0],
                           grads[1], grads[2], b1);
             return grads;
           }, {&sx, &sg});
  }
  return y;
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                       Tensor& running_var, bool training, float momentum, float eps) {
  if (!training) return relu(batch_norm(x, gamma, beta, running_mean, running_var, false, momentum, eps));
  check_args("batch_norm_relu", x, gamma, beta, running_mean, running_var);
  check_training("batch_norm_relu", x);
  Shape c{x.size(1)};
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  Tensor save_mean = Tensor::empty(c, DType::f32, x.device()), save_invstd = Tensor::empty(c, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), batch_norm_relu_forward_train, x, gamma, beta, running_mean, running_var, momentum, eps, y,
                save_mean, save_invstd);
  if (any_requires_grad({&x, &gamma, &beta})) {
    // Saves x (for batch norm) and y (ReLU's mask), as the two unfused ops would.
    Tensor sx = x.detach(), sy = y.detach(), sg = gamma.detach();
    record(y, "batch_norm_relu", {&x, &gamma, &beta},
           [sx, sy, sg, save_mean, save_invstd, eps](std::span<const Tensor> gout, const GradRequest& req) {
             const Tensor& g = gout[0];
             float b1 = 0.0f;
             auto [gg, gb] = param_grads(req, sg.shape(), g.device(), &b1);
             std::vector<Tensor> grads{Tensor::empty(sx.shape(), DType::f32, g.device()), gg, gb};
             TRIM_DISPATCH(g.device(), batch_norm_relu_backward, sx, sy, g, sg, save_mean, save_invstd, eps, grads[0],
                           grads[1], grads[2], b1);
             return grads;
           }, {&sx, &sy, &sg});
  }
  return y;
}

}  // namespace trim
