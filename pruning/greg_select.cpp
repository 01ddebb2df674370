#include "pruning/greg_select.h"

#include "core/autograd/grad_mode.h"
#include "core/ops/ops.h"
#include "pruning/select.h"

namespace trim {

std::vector<double> greg_filter_scores(const Tensor& w) {
  std::vector<double> s = filter_l1(w);
  double row = double(w.numel() / w.shape()[0]);
  for (double& x : s) x /= row;
  return s;
}

GregSelection greg_select(GregMode mode, const PrunableSet& set, const std::vector<int64_t>& k) {
  NoGradGuard no_grad;
  GregSelection out;
  if (mode == GregMode::filter) {
    FilterSelection s = select_filters(set, k);
    for (size_t l = 0; l < set.size(); ++l) {
      int64_t groups = set.tensors[l].shape()[0];
      std::vector<float> sel(size_t(groups), 0.0f);
      for (int64_t r : s.pruned[l]) sel[size_t(r)] = 1.0f;
      out.selected.push_back(Tensor::from_vector(Shape{groups}, sel, set.tensors[l].device()));
    }
    out.rows = std::move(s.pruned);
  } else {
    // The selected elements are those the magnitude selection prunes: 1 − its mask.
    std::vector<Tensor> m = select_per_layer(set, {}, k);
    for (size_t l = 0; l < set.size(); ++l) {
      const Tensor& w = set.tensors[l];
      Tensor sel = Tensor::full(Shape{w.numel()}, 1.0f, DType::f32, w.device());
      add_(sel, m[l].view(Shape{w.numel()}), -1.0f);
      out.selected.push_back(sel);
    }
    out.rows.assign(set.size(), {});
  }
  return out;
}

}  // namespace trim
