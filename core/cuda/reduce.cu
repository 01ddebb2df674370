#include "core/cuda/launch.cuh"
#include "core/kernels/kernels.h"

namespace trim::cuda {
namespace {

// Pass 1: each block sums a grid-stride share of x. The grid size depends on n only, so the
// result is the same on every run and every GPU.
__global__ void partial_sums(const float* x, int64_t n, float* part) {
  float s = 0.0f;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) s += x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// Pass 2: one block adds the partial sums (and scales).
__global__ void final_sum(const float* part, int n, float scale, float* y) {
  float s = 0.0f;
  for (int i = threadIdx.x; i < n; i += kThreads) s += part[i];
  s = block_sum(s);
  if (threadIdx.x == 0) y[0] = s * scale;
}

__global__ void bias_grad_kernel(const float* gy, int64_t outer, int64_t channels, int64_t inner, float beta,
                                 float* gb) {
  int64_t c = blockIdx.x;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < outer * inner; j += kThreads) {
    int64_t o = j / inner, i = j % inner;
    s += gy[(o * channels + c) * inner + i];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) gb[c] = beta != 0.0f ? beta * gb[c] + s : s;
}

}  // namespace

void sum(const Tensor& x, float scale, Tensor& y) {
  int64_t n = x.numel();
  int blocks = int(std::min<int64_t>(1024, std::max<int64_t>(1, (n + 4 * kThreads - 1) / (4 * kThreads))));
  Tensor part = Tensor::empty(Shape{blocks}, DType::f32, x.device());
  partial_sums<<<blocks, kThreads, 0, stream()>>>(x.data<float>(), n, part.data<float>());
  TRIM_KERNEL_CHECK();
  final_sum<<<1, kThreads, 0, stream()>>>(part.data<float>(), blocks, scale, y.data<float>());
  TRIM_KERNEL_CHECK();
}

void bias_grad(const Tensor& gy, int64_t inner, Tensor& gb, float beta) {
  int64_t channels = gb.numel();
  if (channels == 0) return;
  int64_t outer = gy.numel() / (channels * inner);
  bias_grad_kernel<<<unsigned(channels), kThreads, 0, stream()>>>(gy.data<float>(), outer, channels, inner, beta,
                                                                    gb.data<float>());
  TRIM_KERNEL_CHECK();
}

}  // namespace trim::cuda
