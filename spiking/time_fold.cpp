#include "spiking/time_fold.h"

#include <vector>

#include "core/ops/shape_ops.h"

namespace trim::spiking {

Tensor fold_time(const Tensor& x) {
  TRIM_CHECK(x.ndim() >= 2, cat("fold_time: expected [T, N, ...], got ", x.shape().str()));
  std::vector<int64_t> d = x.shape().vec();
  std::vector<int64_t> f{d[0] * d[1]};
  f.insert(f.end(), d.begin() + 2, d.end());
  return reshape(x, Shape(f));
}

Tensor unfold_time(const Tensor& x, int64_t T) {
  TRIM_CHECK(T >= 1, cat("unfold_time: T must be >= 1, got ", T));
  TRIM_CHECK(x.ndim() >= 1 && x.ndim() < Shape::kMaxDims,
             cat("unfold_time: expected [T·N, ...] with at most ", Shape::kMaxDims - 1, " dimensions, got ",
                 x.shape().str()));
  TRIM_CHECK(x.size(0) % T == 0,
             cat("unfold_time: the first dimension of ", x.shape().str(), " is not a multiple of T = ", T));
  std::vector<int64_t> d = x.shape().vec();
  std::vector<int64_t> u{T, d[0] / T};
  u.insert(u.end(), d.begin() + 1, d.end());
  return reshape(x, Shape(u));
}

Tensor seq_to_ann(Module& m, const Tensor& x) { return unfold_time(m(fold_time(x)), x.size(0)); }

}  // namespace trim::spiking
