#include <vector>

#include "core/cpu/lanes.h"
#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {

void sum(const Tensor& x, float scale, Tensor& y) {
  // Fixed chunks summed in double, then combined in chunk order: the result does not depend on
  // the thread count.
  constexpr int64_t kChunk = 8192;
  const float* p = x.data<float>();
  int64_t n = x.numel(), chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, n >= kParallelGrain, [&](int64_t c) {
    double s = 0.0;
    for (int64_t i = c * kChunk, e = std::min(n, i + kChunk); i < e; ++i) s += p[i];
    part[size_t(c)] = s;
  });
  double s = 0.0;
  for (double v : part) s += v;
  y.data<float>()[0] = float(s * scale);
}

void bias_grad(const Tensor& gy, int64_t inner, Tensor& gb, float beta) {
  const float* g = gy.data<float>();
  float* out = gb.data<float>();
  int64_t channels = gb.numel();
  if (channels == 0) return;
  int64_t outer = inner > 0 ? gy.numel() / (channels * inner) : 0;
  parallel_for(channels, gy.numel() >= kParallelGrain, [&](int64_t c) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const float* row = g + (o * channels + c) * inner;
      s += lanes(inner, [row](int64_t i) { return row[i]; });
    }
    // Rounded to float before adding: exactly what adding a separately computed gradient gives.
    out[c] = beta != 0.0f ? beta * out[c] + float(s) : float(s);
  });
}

}  // namespace trim::cpu
