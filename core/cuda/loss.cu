#include "core/cuda/launch.cuh"
#include "core/kernels/kernels.h"
#include "core/kernels/loss_math.h"

namespace trim::cuda {
namespace {

// Few classes: one thread per row (a warp's 32 rows are contiguous, so its reads are too).
__global__ void xent_rows(const float* z, const int32_t* labels, int64_t n, int64_t classes, float eps, float* p,
                          float* row_loss) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) row_loss[i] = xent::row_forward(z + i * classes, classes, labels[i], eps, p + i * classes);
}

// Many classes: one warp per row, its lanes reading consecutive classes (coalesced). Same math as
// xent::row_forward; only the summation order differs.
__global__ void xent_rows_warp(const float* z, const int32_t* labels, int64_t n, int64_t classes, float eps, float* p,
                               float* row_loss) {
  const int lane = int(threadIdx.x) & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) / 32;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < n; r += warps) {
    const float* zr = z + r * classes;
    float* pr = p + r * classes;
    const int32_t label = labels[r];  // the same for the whole warp: the branches below are uniform
    if (label < 0 || label >= classes) {
      for (int64_t c = lane; c < classes; c += 32) pr[c] = NAN;
      if (lane == 0) row_loss[r] = NAN;
      continue;
    }
    float m = -INFINITY;
    for (int64_t c = lane; c < classes; c += 32) m = fmaxf(m, zr[c]);
    m = warp_max(m);
    float s = 0.0f;
    for (int64_t c = lane; c < classes; c += 32) s += expf(zr[c] - m);
    s = warp_sum(s);
    const float inv = 1.0f / s, log_s = logf(s);
    float loss = 0.0f;
    for (int64_t c = lane; c < classes; c += 32) {
      pr[c] = expf(zr[c] - m) * inv;
      loss += xent::term(xent::target(c, label, eps, classes), log_s, m, zr[c]);
    }
    loss = warp_sum(loss);
    if (lane == 0) row_loss[r] = loss;
  }
}

constexpr int64_t kWarpRowClasses = 32;

__global__ void mean_of(const float* v, int64_t n, float* y) {
  double s = 0.0;  // as the CPU
  for (int64_t i = threadIdx.x; i < n; i += kThreads) s += v[i];
  s = block_sum(s);
  if (threadIdx.x == 0) y[0] = float(s / double(n));
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
  if (n == 0) {
    loss.fill_(NAN);  // the mean of nothing, as the CPU's 0 / 0
    return;
  }
  if (classes >= kWarpRowClasses)
    xent_rows_warp<<<grid_for(n * 32), kThreads, 0, stream()>>>(logits.data<float>(), labels.data<int32_t>(), n,
                                                                classes, smoothing, probs.data<float>(),
                                                                rows.data<float>());
  else
    xent_rows<<<rows_grid(n), kThreads, 0, stream()>>>(logits.data<float>(), labels.data<int32_t>(), n, classes,
                                                        smoothing, probs.data<float>(), rows.data<float>());
  TRIM_KERNEL_CHECK();
  mean_of<<<1, kThreads, 0, stream()>>>(rows.data<float>(), n, loss.data<float>());
  TRIM_KERNEL_CHECK();
}

#include "core/kernels/loss.inc"

void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counter) {
  int64_t n = logits.size(0), classes = logits.size(1);
  if (n == 0) return;
  correct_rows<<<rows_grid(n), kThreads, 0, stream()>>>(logits.data<float>(), labels.data<int32_t>(), n, classes,
                                                         counter.data<int32_t>());
  TRIM_KERNEL_CHECK();
}

}  // namespace trim::cuda
