// CPU backend of the spiking kernels: OpenMP over neurons (cpu::map), each neuron looping over T.
#include <algorithm>
#include <vector>

#include "core/cpu/parallel.h"
#include "spiking/neuron_kernels.h"

namespace trim::cpu {
namespace {

// PLIF's dL/dw: per-neuron sums over T, added in double within fixed chunks of neurons, then the
// chunks in order, so the result does not depend on the thread count. Twin of the CUDA two-pass
// block reduction in spiking/neuron.cu.
void plif_backward_reduce(int64_t n, const spiking::NeuronBackwardFn& f, const float* w, float* gw, Device) {
  constexpr int64_t kChunk = 4096;
  int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(size_t(chunks), 0.0);
  parallel_for(chunks, n * f.T >= kParallelGrain, [&](int64_t c) {
    double s = 0.0;
    for (int64_t i = c * kChunk, e = std::min(n, i + kChunk); i < e; ++i) s += double(f(i));
    part[size_t(c)] = s;
  });
  double s = 0.0;
  for (double v : part) s += v;
  gw[0] = float(s) * spiking::logistic_grad(w[0]);
}

}  // namespace

#include "spiking/neuron_kernels.inc"

}  // namespace trim::cpu
