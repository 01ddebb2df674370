// CUDA backend of LTP's soft-mask op. Element-wise work is a grid-stride loop; every per-layer sum
// is a fixed two-pass reduction: pass 1 runs a grid that depends on n only, each thread adding its
// elements in index order and each block summing its threads in a fixed tree (cuda::block_sum);
// pass 2, one block, adds the block sums in the same fixed way. No atomics, so the sums repeat bit
// for bit. 64-bit indices throughout; every launch is checked.
#include <algorithm>

#include "core/cuda/launch.cuh"
#include "pruning/ltp_kernels.h"
#include "pruning/ltp_math.h"

namespace trim::cuda {
namespace {

constexpr int64_t kReduceBlocks = 1024;

int reduce_blocks(int64_t n) {
  return int(std::min<int64_t>(kReduceBlocks, std::max<int64_t>(1, (n + kThreads - 1) / kThreads)));
}

// block_sum for doubles (the temperature's moments): same fixed tree.
__device__ __forceinline__ double block_sum_d(double v) {
  __shared__ double buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  double r = buf[0];
  __syncthreads();
  return r;
}

// --- temperature: mean |w|, then the mean squared deviation, both in double -------------------

// mean == nullptr: partial sums of |w|; else partial sums of (|w| − mean)².
__global__ void abs_moment_kernel(const float* w, int64_t n, const double* mean, double* part) {
  double s = 0.0;
  const double mu = mean ? *mean : 0.0;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    double a = fabs(double(w[i]));
    s += mean ? (a - mu) * (a - mu) : a;
  }
  s = block_sum_d(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// out[0] = scale · Σ part (one block); also writes the float result when `temp` is given.
__global__ void finish_moment_kernel(const double* part, int blocks, double scale, double* out, float* temp) {
  double s = 0.0;
  for (int i = threadIdx.x; i < blocks; i += kThreads) s += part[i];
  s = block_sum_d(s);
  if (threadIdx.x == 0) {
    out[0] = s * scale;
    if (temp) temp[0] = float(s * scale);
  }
}

// --- mask forward / backward ------------------------------------------------------------------

__global__ void mask_forward_kernel(const float* w, int64_t n, const float* tau_p, const float* temp_p, float* v) {
  const float tau = *tau_p, temp = *temp_p;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    v[i] = ltp::masked_weight(w[i], ltp::soft_mask(w[i], tau, temp));
}

// Forward with the soft L0: v, and per-block partial sums of m and of −m(1 − m)/T.
__global__ void mask_forward_l0_kernel(const float* w, int64_t n, const float* tau_p, const float* temp_p, float* v,
                                       float* part_l0, float* part_dl0) {
  const float tau = *tau_p, temp = *temp_p;
  float l0 = 0.0f, dl0 = 0.0f;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    float m = ltp::soft_mask(w[i], tau, temp);
    v[i] = ltp::masked_weight(w[i], m);
    l0 += m;
    dl0 += ltp::grad_tau_term(0.0f, w[i], m, temp, 1.0f);
  }
  l0 = block_sum(l0);
  dl0 = block_sum(dl0);
  if (threadIdx.x == 0) {
    part_l0[blockIdx.x] = l0;
    part_dl0[blockIdx.x] = dl0;
  }
}

// gw = beta·gw + g·m (gw may be null) and per-block partial sums of the τ terms.
__global__ void mask_backward_kernel(const float* w, const float* g, int64_t n, const float* tau_p,
                                     const float* temp_p, float* gw, float beta, float* part_tau) {
  const float tau = *tau_p, temp = *temp_p;
  float gt = 0.0f;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    float m = ltp::soft_mask(w[i], tau, temp);
    if (gw) gw[i] = (beta != 0.0f ? beta * gw[i] : 0.0f) + ltp::grad_w(g[i], m);
    gt += ltp::grad_tau_term(g[i], w[i], m, temp, 0.0f);
  }
  gt = block_sum(gt);
  if (threadIdx.x == 0) part_tau[blockIdx.x] = gt;
}

// out[0] = Σ part (one block); out may be null (then nothing is written).
__global__ void finish_sum_kernel(const float* part, int blocks, float* out) {
  float s = 0.0f;
  for (int i = threadIdx.x; i < blocks; i += kThreads) s += part[i];
  s = block_sum(s);
  if (threadIdx.x == 0 && out) out[0] = s;
}

__global__ void l0_backward_kernel(const float* g, const float* dl0, float* gtau) { gtau[0] = g[0] * dl0[0]; }

__global__ void count_clamped_kernel(const float* g, int64_t n, float clip, int32_t* count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    count[i] += ltp::clamp_binds(g[i], clip) ? 1 : 0;
}

}  // namespace

void ltp_temperature(const Tensor& w, double t0, Tensor& temp) {
  const int64_t n = w.numel();
  TRIM_CHECK(n > 0, "ltp_temperature: empty weight");
  const int blocks = reduce_blocks(n);
  // trim has no f64 dtype: the double scratch is a byte buffer (allocations are 256-byte aligned).
  Tensor scratch = Tensor::empty(Shape{(int64_t(blocks) + 2) * int64_t(sizeof(double))}, DType::u8, w.device());
  double* part = static_cast<double*>(scratch.raw_data());
  double* mean = part + blocks;
  double* var = mean + 1;
  abs_moment_kernel<<<blocks, kThreads, 0, stream()>>>(w.data<float>(), n, nullptr, part);
  TRIM_KERNEL_CHECK();
  finish_moment_kernel<<<1, kThreads, 0, stream()>>>(part, blocks, 1.0 / double(n), mean, nullptr);
  TRIM_KERNEL_CHECK();
  abs_moment_kernel<<<blocks, kThreads, 0, stream()>>>(w.data<float>(), n, mean, part);
  TRIM_KERNEL_CHECK();
  finish_moment_kernel<<<1, kThreads, 0, stream()>>>(part, blocks, t0 / double(n), var, temp.data<float>());
  TRIM_KERNEL_CHECK();
}

void ltp_mask_forward(const ltp::MaskForwardArgs& a) {
  const int64_t n = a.w.numel();
  if (n <= 0) return;
  const float *w = a.w.data<float>(), *tau = a.tau.data<float>(), *temp = a.temp.data<float>();
  if (!a.l0.defined()) {
    mask_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(w, n, tau, temp, a.v.data<float>());
    TRIM_KERNEL_CHECK();
    return;
  }
  const int blocks = reduce_blocks(n);
  Tensor part = Tensor::empty(Shape{2 * int64_t(blocks)}, DType::f32, a.w.device());
  float* p = part.data<float>();
  mask_forward_l0_kernel<<<blocks, kThreads, 0, stream()>>>(w, n, tau, temp, a.v.data<float>(), p, p + blocks);
  TRIM_KERNEL_CHECK();
  finish_sum_kernel<<<1, kThreads, 0, stream()>>>(p, blocks, a.l0.data<float>());
  TRIM_KERNEL_CHECK();
  finish_sum_kernel<<<1, kThreads, 0, stream()>>>(p + blocks, blocks, a.dl0.data<float>());
  TRIM_KERNEL_CHECK();
}

void ltp_mask_backward(const ltp::MaskBackwardArgs& a) {
  const int64_t n = a.w.numel();
  if (n <= 0) return;
  const int blocks = reduce_blocks(n);
  Tensor part = Tensor::empty(Shape{int64_t(blocks)}, DType::f32, a.w.device());
  float* gw = a.gw.defined() ? a.gw.data<float>() : nullptr;
  mask_backward_kernel<<<blocks, kThreads, 0, stream()>>>(a.w.data<float>(), a.g.data<float>(), n,
                                                          a.tau.data<float>(), a.temp.data<float>(), gw, a.beta,
                                                          part.data<float>());
  TRIM_KERNEL_CHECK();
  if (a.gtau.defined()) {
    finish_sum_kernel<<<1, kThreads, 0, stream()>>>(part.data<float>(), blocks, a.gtau.data<float>());
    TRIM_KERNEL_CHECK();
  }
}

void ltp_l0_backward(const Tensor& g, const Tensor& dl0, Tensor& gtau) {
  l0_backward_kernel<<<1, 1, 0, stream()>>>(g.data<float>(), dl0.data<float>(), gtau.data<float>());
  TRIM_KERNEL_CHECK();
}

void ltp_count_clamped(const Tensor& g, float clip, Tensor& count) {
  const int64_t n = g.numel();
  if (n <= 0) return;
  count_clamped_kernel<<<grid_for(n), kThreads, 0, stream()>>>(g.data<float>(), n, clip, count.data<int32_t>());
  TRIM_KERNEL_CHECK();
}

}  // namespace trim::cuda
