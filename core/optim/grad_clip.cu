#include <climits>

#include "core/cuda/launch.cuh"
#include "core/optim/grad_clip.h"

namespace trim {
namespace {

constexpr int kPerThread = 16;  // elements per thread before a block needs a sibling

__device__ double block_sum_double(double v) {
  __shared__ double buf[cuda::kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = cuda::kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  return buf[0];
}

// Pass 1: block b sums the squares of a grid-stride share of g.
__global__ void squares_partial(const float* g, int64_t n, double* partials) {
  double s = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    double x = g[i];
    s += x * x;
  }
  s = block_sum_double(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// Pass 2: one block sums the partials in a fixed order and writes the scale.
__global__ void squares_finish(const double* partials, int blocks, float max_norm, float* scale, float* norm) {
  double s = 0.0;
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) s += partials[i];
  s = block_sum_double(s);
  if (threadIdx.x == 0) {
    double nrm = sqrt(s);
    double q = double(max_norm) / (nrm + 1e-6);
    *scale = q < 1.0 ? float(q) : 1.0f;
    if (norm) *norm = float(nrm);
  }
}

}  // namespace

void grad_clip_scale_cuda(const float* g, int64_t n, float max_norm, float* scale, float* norm, double* partials) {
  // The grid depends on n only, so the summation order (and the result) is the same on any GPU.
  int64_t want = (n + int64_t(cuda::kThreads) * kPerThread - 1) / (int64_t(cuda::kThreads) * kPerThread);
  int blocks = int(want < 1 ? 1 : (want > kGradClipPartials ? kGradClipPartials : want));
  squares_partial<<<blocks, cuda::kThreads, 0, cuda::stream()>>>(g, n, partials);
  TRIM_KERNEL_CHECK();
  squares_finish<<<1, cuda::kThreads, 0, cuda::stream()>>>(partials, blocks, max_norm, scale, norm);
  TRIM_KERNEL_CHECK();
}

}  // namespace trim
