// Batch norm on cuDNN (spatial mode: statistics per channel over N, H, W).
#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/cudnn_util.h"
#include "core/kernels/kernels.h"

namespace trim::cuda {
namespace {

constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;

struct BnDescs {
  explicit BnDescs(const Shape& s) : x(s) {
    TRIM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&param));
    TRIM_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(param, x, kMode));
  }
  ~BnDescs() { cudnnDestroyTensorDescriptor(param); }
  TensorDesc x;
  cudnnTensorDescriptor_t param = nullptr;
};

void check_eps(float eps) {
  TRIM_CHECK(eps >= float(CUDNN_BN_MIN_EPSILON), cat("batch_norm: cuDNN needs eps >= ", CUDNN_BN_MIN_EPSILON, ", got ", eps));
}

}  // namespace

void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                              Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                              Tensor& save_invstd) {
  check_eps(eps);
  BnDescs d(x.shape());
  TRIM_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      cudnn(), kMode, &kOne, &kZero, d.x, x.data<float>(), d.x, y.data<float>(), d.param, gamma.data<float>(),
      beta.data<float>(), double(momentum), running_mean.data<float>(), running_var.data<float>(), double(eps),
      save_mean.data<float>(), save_invstd.data<float>()));
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                             const Tensor& running_var, float eps, Tensor& y) {
  check_eps(eps);
  BnDescs d(x.shape());
  TRIM_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
      cudnn(), kMode, &kOne, &kZero, d.x, x.data<float>(), d.x, y.data<float>(), d.param, gamma.data<float>(),
      beta.data<float>(), running_mean.data<float>(), running_var.data<float>(), double(eps)));
}

void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, float eps, Tensor& gx, Tensor& ggamma, Tensor& gbeta,
                         float param_beta) {
  check_eps(eps);
  BnDescs d(x.shape());
  TRIM_CUDNN_CHECK(cudnnBatchNormalizationBackward(
      cudnn(), kMode, &kOne, &kZero, &kOne, &param_beta, d.x, x.data<float>(), d.x, gy.data<float>(), d.x, gx.data<float>(),
      d.param, gamma.data<float>(), ggamma.data<float>(), gbeta.data<float>(), double(eps),
      save_mean.data<float>(), save_invstd.data<float>()));
}

// Fused with ReLU as a composition of cuDNN's batch norm and the element-wise ReLU kernels
// (cuDNN's own BN + activation fusion needs NHWC tensors): on the GPU these passes are cheap, and
// results stay those of the unfused ops. The ReLU runs in place on y (an element-wise map reads
// element i before writing it).
void batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                   Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                                   Tensor& save_invstd) {
  batch_norm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
  relu_forward(y, y);
}

void batch_norm_relu_backward(const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, float eps, Tensor& gx,
                              Tensor& ggamma, Tensor& gbeta, float param_beta) {
  // Masked into a temporary, not into gx: cuDNN's backward reads dy while it writes dx.
  Tensor masked = Tensor::empty(gy.shape(), DType::f32, gy.device());
  relu_backward(y, gy, masked);
  batch_norm_backward(x, masked, gamma, save_mean, save_invstd, eps, gx, ggamma, gbeta, param_beta);
}

}  // namespace trim::cuda
