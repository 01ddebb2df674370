// CPU path of magnitude and filter selection (see select_kernels.h).
#include <algorithm>

#include "core/cpu/parallel.h"
#include "pruning/select_kernels.h"
#include "pruning/select_math.h"

namespace trim::cpu {

void select_unit(const sel::UnitTensors& u, int64_t k, Tensor& out) {
  float* dst = out.data<float>();
  // (key << 32 | flat index): one 64-bit compare orders by |w|, then by the lower index.
  std::vector<uint64_t> ranked;
  ranked.reserve(size_t(out.numel()));
  int64_t base = 0;
  for (size_t l = 0; l < u.w.size(); ++l) {
    const Tensor& w = u.w[l];
    const float* wp = w.data<float>();
    const float* mp = u.mask.empty() ? nullptr : u.mask[l].data<float>();
    cpu::map(w.numel(), sel::InitMask{mp, dst + base});
    for (int64_t i = 0; i < w.numel(); ++i)
      if (!mp || mp[i] != 0.0f) ranked.push_back(uint64_t(sel::magnitude_key(wp[i])) << 32 | uint64_t(base + i));
    base += w.numel();
  }
  TRIM_CHECK(k <= int64_t(ranked.size()), cat("select_unit: k = ", k, " exceeds the ", ranked.size(), " unpruned entries"));
  if (k == 0) return;
  std::nth_element(ranked.begin(), ranked.begin() + (k - 1), ranked.end());
  // nth_element leaves the k − 1 smaller elements before the k-th; all keys are distinct.
  for (int64_t i = 0; i < k; ++i) dst[ranked[size_t(i)] & 0xffffffffu] = 0.0f;
}

void select_count_zeros(const Tensor& x, int64_t& count) {
  const float* p = x.data<float>();
  count = int64_t(std::count(p, p + x.numel(), 0.0f));
}

void select_filter_l1(const Tensor& w, std::vector<double>& scores) {
  const int64_t rows = int64_t(scores.size()), cols = rows > 0 ? w.numel() / rows : 0;
  const float* p = w.data<float>();
  cpu::parallel_for(rows, rows * cols >= cpu::kParallelGrain, [&](int64_t r) {
    double lane[sel::kL1Lanes] = {};
    const float* row = p + r * cols;
    for (int64_t j = 0; j < cols; ++j) lane[j % sel::kL1Lanes] += sel::abs_as_double(row[j]);
    for (int s = sel::kL1Lanes / 2; s > 0; s /= 2)
      for (int t = 0; t < s; ++t) lane[t] += lane[t + s];
    scores[size_t(r)] = lane[0];
  });
}

void select_expand_rows(const std::vector<float>& keep, Tensor& out) {
  const int64_t rows = int64_t(keep.size());
  if (rows == 0) return;
  cpu::map(out.numel(), sel::ExpandRows{keep.data(), out.numel() / rows, out.data<float>()});
}

}  // namespace trim::cpu
