#include "core/cuda/launch.cuh"
#include "core/kernels/kernels.h"
#include "core/kernels/loss_math.h"

namespace trim::cuda {
namespace {

// One thread per row (rows are short: classes, not pixels).
__global__ void xent_rows(const float* z, const int32_t* labels, int64_t n, int64_t classes, float eps, float* p,
                          float* row_loss) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) row_loss[i] = xent::row_forward(z + i * classes, classes, labels[i], eps, p + i * classes);
}

__global__ void mean_of(const float* v, int64_t n, float* y) {
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) s += v[i];
  s = block_sum(s);
  if (threadIdx.x == 0) y[0] = s / float(n);
}

__global__ void correct_rows(const float* z, const int32_t* labels, int64_t n, int64_t classes, int32_t* counter) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n && xent::row_argmax(z + i * classes, classes) == labels[i]) atomicAdd(counter, 1);
}

unsigned rows_grid(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

}  // namespace

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, float smoothing, Tensor& probs, Tensor& loss) {
  int64_t n = logits.size(0), classes = logits.size(1);
  Tensor rows = Tensor::empty(Shape{n}, DType::f32, logits.device());
  xent_rows<<<rows_grid(n), kThreads, 0, stream()>>>(logits.data<float>(), labels.data<int32_t>(), n, classes,
                                                      smoothing, probs.data<float>(), rows.data<float>());
  TRIM_KERNEL_CHECK();
  mean_of<<<1, kThreads, 0, stream()>>>(rows.data<float>(), n, loss.data<float>());
  TRIM_KERNEL_CHECK();
}

#include "core/kernels/loss.inc"

void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counter) {
  int64_t n = logits.size(0), classes = logits.size(1);
  correct_rows<<<rows_grid(n), kThreads, 0, stream()>>>(logits.data<float>(), labels.data<int32_t>(), n, classes,
                                                         counter.data<int32_t>());
  TRIM_KERNEL_CHECK();
}

}  // namespace trim::cuda
