// CUDA backend of the spiking kernels: one thread per neuron, looping over T inside the kernel
// (grid-stride over neurons, 64-bit indices; cuda::map checks every launch).
#include <algorithm>

#include "core/cuda/launch.cuh"
#include "spiking/neuron_kernels.h"

namespace trim::cuda {
namespace {

// The grid of the dL/dw reduction depends on n only, so every run (and every GPU) adds the same
// partial sums in the same order.
constexpr int64_t kReduceBlocks = 1024;

// Pass 1: each thread runs backward through time for its neurons and adds their dL/dk shares;
// each block sums its threads in a fixed tree.
__global__ void plif_backward_kernel(spiking::NeuronBackwardFn f, int64_t n, float* part) {
  float s = 0.0f;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) s += f(i);
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// Pass 2: one block adds the block sums and applies dk/dw = sigmoid'(w).
__global__ void plif_final_kernel(const float* part, int blocks, const float* w, float* gw) {
  float s = 0.0f;
  for (int i = threadIdx.x; i < blocks; i += kThreads) s += part[i];
  s = block_sum(s);
  if (threadIdx.x == 0) gw[0] = s * spiking::logistic_grad(w[0]);
}

void plif_backward_reduce(int64_t n, const spiking::NeuronBackwardFn& f, const float* w, float* gw, Device device) {
  int blocks = int(std::min<int64_t>(kReduceBlocks, std::max<int64_t>(1, (n + kThreads - 1) / kThreads)));
  Tensor part = Tensor::empty(Shape{blocks}, DType::f32, device);
  plif_backward_kernel<<<blocks, kThreads, 0, stream()>>>(f, n, part.data<float>());
  TRIM_KERNEL_CHECK();
  plif_final_kernel<<<1, kThreads, 0, stream()>>>(part.data<float>(), blocks, w, gw);
  TRIM_KERNEL_CHECK();
}

}  // namespace

#include "spiking/neuron_kernels.inc"

}  // namespace trim::cuda
