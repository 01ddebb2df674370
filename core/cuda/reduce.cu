// Reductions. Every grid size depends on the shape only (never on the GPU), so results repeat on
// every run and every GPU.
#include <algorithm>

#include "core/cuda/launch.cuh"
#include "core/cuda/runtime.h"
#include "core/kernels/kernels.h"

namespace trim::cuda {
namespace {

// sum, pass 1: each block sums a grid-stride share of x. Accumulated in double, as the CPU does,
// so the two agree to float rounding however long x is (FP64 adds cost nothing in a memory-bound
// loop on data-centre GPUs).
__global__ void partial_sums(const float* x, int64_t n, double* part) {
  double s = 0.0;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) s += x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// sum, pass 2: one block adds the partial sums (and scales).
__global__ void final_sum(const double* part, int n, float scale, float* y) {
  double s = 0.0;
  for (int i = threadIdx.x; i < n; i += kThreads) s += part[i];
  s = block_sum(s);
  if (threadIdx.x == 0) y[0] = float(s * double(scale));
}

// bias_grad of gy [outer, C, inner] in two passes, so that the whole GPU works even with few
// channels: pass 1 spreads each channel over several blocks (writing float partial sums), pass 2
// adds a channel's partials in a fixed order, in double.
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kPlaneInner = 64;  // from this plane size on, threads stride within planes

// Long planes: block (c, s) sums planes [s * chunk, (s + 1) * chunk) of channel c, its threads
// reading each plane contiguously. part[c * splits + s].
__global__ void bias_planes(const float* gy, int64_t outer, int64_t channels, int64_t inner, int64_t splits,
                            int64_t chunk, float* part) {
  int64_t b = blockIdx.x, c = b / splits, s = b - c * splits;  // one division per block
  int64_t o_end = min(outer, (s + 1) * chunk);
  float acc = 0.0f;
  for (int64_t o = s * chunk; o < o_end; ++o) {
    const float* plane = gy + (o * channels + c) * inner;
    for (int64_t i = threadIdx.x; i < inner; i += kThreads) acc += plane[i];
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) part[b] = acc;
}

// Short planes (inner < kPlaneInner, linear layers have inner = 1): gy is a [outer, C * inner]
// matrix; consecutive threads take consecutive columns (coalesced), blockIdx.y splits the rows.
// part[s * columns + column].
__global__ void bias_columns(const float* gy, int64_t outer, int64_t columns, int64_t chunk, float* part) {
  int64_t col = blockIdx.x * int64_t(kThreads) + threadIdx.x, s = blockIdx.y;
  if (col >= columns) return;
  int64_t o_end = min(outer, (s + 1) * chunk);
  float acc = 0.0f;
  for (int64_t o = s * chunk; o < o_end; ++o) acc += gy[o * columns + col];
  part[s * columns + col] = acc;
}

// Pass 2: gb[c] = beta gb[c] + sum_{s < splits, i < width} part[s * s_stride + c * c_stride + i].
__global__ void bias_finish(const float* part, int64_t channels, int64_t splits, int64_t s_stride, int64_t c_stride,
                            int64_t width, float beta, float* gb) {
  for (int64_t c = blockIdx.x * int64_t(kThreads) + threadIdx.x; c < channels; c += int64_t(gridDim.x) * kThreads) {
    double acc = 0.0;
    for (int64_t s = 0; s < splits; ++s)
      for (int64_t i = 0; i < width; ++i) acc += part[s * s_stride + c * c_stride + i];
    gb[c] = beta != 0.0f ? float(double(beta) * gb[c] + acc) : float(acc);  // beta = 0 never reads gb
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void sum(const Tensor& x, float scale, Tensor& y) {
  int64_t n = x.numel();
  int blocks = int(std::min<int64_t>(1024, std::max<int64_t>(1, ceil_div(n, 4 * kThreads))));
  Scratch part(sizeof(double) * size_t(blocks));
  partial_sums<<<blocks, kThreads, 0, stream()>>>(x.data<float>(), n, part.as<double>());
  TRIM_KERNEL_CHECK();
  final_sum<<<1, kThreads, 0, stream()>>>(part.as<double>(), blocks, scale, y.data<float>());
  TRIM_KERNEL_CHECK();
}

void bias_grad(const Tensor& gy, int64_t inner, Tensor& gb, float beta) {
  const int64_t channels = gb.numel();
  if (channels == 0) return;  // nothing to launch (a grid of 0 blocks is an error)
  const int64_t outer = inner > 0 ? gy.numel() / (channels * inner) : 0;
  const float* g = gy.data<float>();
  if (outer == 0 || inner == 0) {  // an empty sum
    if (beta == 0.0f) gb.zero_();
    return;
  }
  if (inner >= kPlaneInner) {
    int64_t splits = std::clamp<int64_t>(kTargetBlocks / channels, 1, outer), chunk = ceil_div(outer, splits);
    splits = ceil_div(outer, chunk);  // no empty split
    TRIM_CHECK(channels * splits <= INT_MAX, cat("bias_grad: ", channels, " channels exceed the grid"));
    Scratch part(sizeof(float) * size_t(channels * splits));
    bias_planes<<<unsigned(channels * splits), kThreads, 0, stream()>>>(g, outer, channels, inner, splits, chunk,
                                                                         part.as<float>());
    TRIM_KERNEL_CHECK();
    bias_finish<<<grid_for(channels), kThreads, 0, stream()>>>(part.as<float>(), channels, splits, 1, splits, 1, beta,
                                                               gb.data<float>());
    TRIM_KERNEL_CHECK();
    return;
  }
  const int64_t columns = channels * inner, column_blocks = ceil_div(columns, kThreads);
  TRIM_CHECK(column_blocks <= INT_MAX, cat("bias_grad: ", columns, " columns exceed the grid"));
  int64_t splits = std::clamp<int64_t>(kTargetBlocks / column_blocks, 1, outer), chunk = ceil_div(outer, splits);
  splits = ceil_div(outer, chunk);
  Scratch part(sizeof(float) * size_t(splits * columns));
  bias_columns<<<dim3(unsigned(column_blocks), unsigned(splits)), kThreads, 0, stream()>>>(g, outer, columns, chunk,
                                                                                          part.as<float>());
  TRIM_KERNEL_CHECK();
  bias_finish<<<grid_for(channels), kThreads, 0, stream()>>>(part.as<float>(), channels, splits, columns, inner, inner,
                                                             beta, gb.data<float>());
  TRIM_KERNEL_CHECK();
}

}  // namespace trim::cuda
