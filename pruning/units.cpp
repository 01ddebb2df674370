#include "pruning/units.h"

#include "pruning/select.h"

namespace trim {
namespace {

// Each tensor's rows (W reshaped to [out, -1]) as a set of its own: the neuron scope's units.
PrunableSet rows_of(const PrunableSet& set) {
  PrunableSet rows;
  for (size_t l = 0; l < set.size(); ++l) {
    const Tensor& t = set.tensors[l];
    int64_t out = t.size(0), per = t.numel() / out;
    Tensor flat = t.view(Shape{out * per});
    for (int64_t r = 0; r < out; ++r) {
      rows.names.push_back(set.names[l] + "[" + std::to_string(r) + "]");
      rows.tensors.push_back(flat.narrow0(r * per, per));
    }
  }
  return rows;
}

std::vector<Tensor> rows_of(const std::vector<Tensor>& masks, const PrunableSet& set) {
  PrunableSet m;
  m.tensors = masks;
  m.names = set.names;
  return rows_of(m).tensors;
}

}  // namespace

PqiScope pqi_scope(Scope s) {
  return s == Scope::global ? PqiScope::global : s == Scope::layer ? PqiScope::layer : PqiScope::neuron;
}

std::vector<int64_t> unit_sizes(const PrunableSet& set, Scope scope) {
  std::vector<int64_t> n;
  if (scope == Scope::global) return {set.numel()};
  for (const Tensor& t : set.tensors) {
    if (scope == Scope::layer) {
      n.push_back(t.numel());
    } else {
      for (int64_t r = 0; r < t.size(0); ++r) n.push_back(t.numel() / t.size(0));
    }
  }
  return n;
}

std::vector<int64_t> unit_unpruned(const PrunableSet& set, const std::vector<Tensor>& masks, Scope scope) {
  std::vector<int64_t> n;
  int64_t total = 0;
  for (size_t l = 0; l < set.size(); ++l) {
    const Tensor& m = masks.at(l);
    if (scope == Scope::neuron) {
      std::vector<float> v = m.to_vector<float>();
      int64_t out = m.size(0), per = m.numel() / out;
      for (int64_t r = 0; r < out; ++r) {
        int64_t k = 0;
        for (int64_t j = 0; j < per; ++j) k += v[size_t(r * per + j)] != 0.0f;
        n.push_back(k);
      }
      continue;
    }
    int64_t k = m.numel() - count_zeros(m);
    if (scope == Scope::layer) n.push_back(k);
    total += k;
  }
  if (scope == Scope::global) n.push_back(total);
  return n;
}

std::vector<Tensor> prune_units(const PrunableSet& rank_by, const std::vector<Tensor>& masks, Scope scope,
                                const std::vector<int64_t>& k) {
  if (scope == Scope::global) {
    TRIM_CHECK(k.size() == 1, "prune_units: one count for the global scope");
    return select_global(rank_by, masks, k[0]);
  }
  if (scope == Scope::layer) return select_per_layer(rank_by, masks, k);
  // Neuron scope: every row a unit of its own, then the rows' masks stitched back per tensor.
  PrunableSet rows = rows_of(rank_by);
  std::vector<Tensor> row_masks = rows_of(masks, rank_by);
  std::vector<Tensor> new_rows = select_per_layer(rows, row_masks, k);
  std::vector<Tensor> out;
  size_t r = 0;
  for (const Tensor& t : rank_by.tensors) {
    Tensor m = Tensor::empty(t.shape(), DType::f32, t.device());
    int64_t out_rows = t.size(0), per = t.numel() / out_rows;
    Tensor flat = m.view(Shape{t.numel()});
    for (int64_t j = 0; j < out_rows; ++j, ++r) {
      Tensor dst = flat.narrow0(j * per, per);
      dst.copy_(new_rows[r]);
    }
    out.push_back(m);
  }
  return out;
}

}  // namespace trim
