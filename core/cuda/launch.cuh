#pragma once
// Launch helpers for trim's own CUDA kernels.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/kernels/int_div.h"

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

// Below 2^31 elements the flat index splits with 32-bit multiply-shift division (int_div.h):
// i < n <= INT_MAX and the stride is at most sm_count * 32 * 256, so i + stride never wraps.
template <class F>
__global__ void map3_kernel32(FastDiv n1, FastDiv n2, uint32_t n, F f) {
  const uint32_t stride = gridDim.x * blockDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    uint32_t r = n2.div(i), c = n2.mod(i, r);
    uint32_t a = n1.div(r), b = n1.mod(r, a);
    f(int64_t(a), int64_t(b), int64_t(c));
  }
}

template <class F>
__global__ void map3_kernel64(int64_t n1, int64_t n2, int64_t n, F f) {
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
  if (n <= INT_MAX)
    map3_kernel32<<<grid_for(n), kThreads, 0, stream()>>>(FastDiv(uint32_t(n1)), FastDiv(uint32_t(n2)), uint32_t(n), f);
  else
    map3_kernel64<<<grid_for(n), kThreads, 0, stream()>>>(n1, n2, n, f);
  TRIM_KERNEL_CHECK();
}

// Sum of `v` over a block, which must have exactly kThreads threads (every launch in trim does);
// every thread gets the result. The tree order is fixed, so sums are deterministic.
template <class T>
__device__ __forceinline__ T block_sum(T v) {
  __shared__ T buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  T r = buf[0];
  __syncthreads();  // buf may be reused by the caller's next block_sum
  return r;
}

// Sum and maximum over the 32 lanes of a warp whose lanes all take part; every lane gets the
// result, in a fixed order.
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace trim::cuda
