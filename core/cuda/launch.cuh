#pragma once
// Launch helpers for trim's own CUDA kernels.
#include <algorithm>
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda/context.h"

namespace trim::cuda {

constexpr int kThreads = 256;

// Enough blocks to fill the GPU several times over, and no more (grid-stride loops do the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t(sm_count()) * 32)));
}

template <class F>
__global__ void map_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) f(i);
}

// Runs f(i) for i in [0, n) on the current stream.
template <class F>
void map(int64_t n, const F& f) {
  if (n <= 0) return;
  map_kernel<<<grid_for(n), kThreads, 0, stream()>>>(n, f);
  TRIM_KERNEL_CHECK();
}

template <class F>
__global__ void map3_kernel(int64_t n1, int64_t n2, int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / n2;
    f(r / n1, r % n1, i % n2);
  }
}

// Runs f(a, b, c) over [0, n0) x [0, n1) x [0, n2) on the current stream.
template <class F>
void map3(int64_t n0, int64_t n1, int64_t n2, const F& f) {
  int64_t n = n0 * n1 * n2;
  if (n <= 0) return;
  map3_kernel<<<grid_for(n), kThreads, 0, stream()>>>(n1, n2, n, f);
  TRIM_KERNEL_CHECK();
}

// Sum of `v` over a block, which must have exactly kThreads threads (every launch in trim does);
// every thread gets the result. The tree order is fixed, so sums are deterministic.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  float r = buf[0];
  __syncthreads();  // buf may be reused by the caller's next block_sum
  return r;
}

}  // namespace trim::cuda
