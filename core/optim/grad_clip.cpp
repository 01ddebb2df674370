#include "core/optim/grad_clip.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu/parallel.h"

namespace trim {

void grad_clip_scale_cpu(const float* g, int64_t n, float max_norm, float* scale, float* norm) {
  // Fixed-size chunks summed in order: the result does not depend on the thread count.
  constexpr int64_t kChunk = 1 << 16;
  int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(size_t(std::max<int64_t>(chunks, 1)), 0.0);
  cpu::parallel_for(chunks, chunks > 1, [&](int64_t c) {
    double s = 0.0;
    for (int64_t i = c * kChunk, e = std::min(n, i + kChunk); i < e; ++i) s += double(g[i]) * double(g[i]);
    part[size_t(c)] = s;
  });
  double total = 0.0;
  for (double s : part) total += s;
  double nrm = std::sqrt(total);
  *scale = grad_clip_scale_from_norm(nrm, max_norm);
  if (norm) *norm = float(nrm);
}

}  // namespace trim
