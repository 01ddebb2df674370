#include "core/ops/batchnorm.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, float momentum, float eps) {
  check_dtype("batch_norm", x, DType::f32, "input");
  TRIM_CHECK(x.ndim() == 2 || x.ndim() == 4, cat("batch_norm: expected [N, C] or [N, C, H, W], got ", x.shape().str()));
  Shape c{x.size(1)};
  for (const Tensor* t : {&gamma, &beta, static_cast<const Tensor*>(&running_mean), static_cast<const Tensor*>(&running_var)}) {
    check_shape("batch_norm", *t, c, "a per-channel tensor");
    check_same_device("batch_norm", x, *t);
  }
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  if (!training) {
    TRIM_CHECK(!any_requires_grad({&x, &gamma, &beta}),
               "batch_norm: evaluation mode has no backward; use training mode (Module::train) to differentiate");
    TRIM_DISPATCH(x.device(), batch_norm_forward_eval, x, gamma, beta, running_mean, running_var, eps, y);
    return y;
  }
  TRIM_CHECK(x.numel() / x.size(1) > 1, cat("batch_norm: training needs more than one value per channel, got input ",
                                            x.shape().str()));
  Tensor save_mean = Tensor::empty(c, DType::f32, x.device()), save_invstd = Tensor::empty(c, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), batch_norm_forward_train, x, gamma, beta, running_mean, running_var, momentum, eps, y,
                save_mean, save_invstd);
  if (any_requires_grad({&x, &gamma, &beta})) {
    Tensor sx = x.detach(), sg = gamma.detach();
    record(y, "batch_norm", {&x, &gamma, &beta},
           [sx, sg, save_mean, save_invstd](const Tensor& g, const std::vector<bool>&) {
             // One kernel yields all three gradients (cuDNN's backward does too).
             std::vector<Tensor> grads{Tensor::empty(sx.shape(), DType::f32, g.device()),
                                       Tensor::empty(sg.shape(), DType::f32, g.device()),
                                       Tensor::empty(sg.shape(), DType::f32, g.device())};
             TRIM_DISPATCH(g.device(), batch_norm_backward, sx, g, sg, save_mean, save_invstd, grads[0], grads[1],
                           grads[2]);
             return grads;
           });
  }
  return y;
}

}  // namespace trim
