#include "pruning/select.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "pruning/select_kernels.h"

namespace trim {

namespace {

constexpr double kCountTolerance = 1e-12;  // far above product round-off (~1e-16), far below a real fraction

// Checks the set and its masks; returns the common device.
Device check_inputs(const char* op, const PrunableSet& set, const std::vector<Tensor>& masks) {
  TRIM_CHECK(!set.tensors.empty(), cat(op, ": the prunable set is empty"));
  TRIM_CHECK(set.names.size() == set.tensors.size(), cat(op, ": PrunableSet has ", set.names.size(), " names for ",
                                                         set.tensors.size(), " tensors"));
  TRIM_CHECK(masks.empty() || masks.size() == set.size(),
             cat(op, ": ", masks.size(), " masks for ", set.size(), " tensors (pass none or one per tensor)"));
  Device dev = set.tensors[0].device();
  for (size_t l = 0; l < set.size(); ++l) {
    const Tensor& w = set.tensors[l];
    check_dtype(op, w, DType::f32, set.names[l].c_str());
    TRIM_CHECK(w.device() == dev, cat(op, ": ", set.names[l], " is on ", w.device().str(), ", ", set.names[0],
                                      " on ", dev.str(), "; all prunable tensors must share one device"));
    if (!masks.empty()) {
      check_dtype(op, masks[l], DType::f32, "mask");
      check_shape(op, masks[l], w.shape(), "mask");
      check_same_device(op, masks[l], w);
    }
  }
  return dev;
}

// One flat mask buffer for the whole set, handed out as per-tensor views.
struct FlatMasks {
  Tensor flat;
  std::vector<Tensor> views;
  std::vector<int64_t> offset;
};

FlatMasks flat_masks(const PrunableSet& set, Device dev) {
  FlatMasks f;
  int64_t total = set.numel();
  f.flat = Tensor::empty(Shape{total}, DType::f32, dev);
  int64_t off = 0;
  for (const Tensor& w : set.tensors) {
    f.offset.push_back(off);
    f.views.push_back(f.flat.narrow0(off, w.numel()).view(w.shape()));
    off += w.numel();
  }
  return f;
}

struct Unit {
  std::vector<int64_t> layers;  // tensors of the unit, in order; their masks are contiguous in `out`
  int64_t k = 0;
  std::string what;             // for messages
};

void check_unit_size(const Unit& u, int64_t n) {
  if (n >= int64_t(std::numeric_limits<uint32_t>::max()))
    throw Error(cat("magnitude selection: ", u.what, " holds ", n, " entries; at most 2^32 − 2 are supported"));
}

void select_unit(const PrunableSet& set, const std::vector<Tensor>& masks, const Unit& u, Tensor out, Device dev) {
  if (u.k < 0) throw Error(cat("magnitude selection: the count for ", u.what, " is negative (", u.k, ")"));
  sel::UnitTensors t;
  int64_t n = 0;
  for (int64_t l : u.layers) {
    t.w.push_back(set.tensors[size_t(l)]);
    if (!masks.empty()) t.mask.push_back(masks[size_t(l)]);
    n += set.tensors[size_t(l)].numel();
  }
  check_unit_size(u, n);
  if (u.k > 0) {
    int64_t unpruned = n;
    for (const Tensor& m : t.mask) unpruned -= count_zeros(m);
    if (u.k > unpruned)
      throw Error(cat("magnitude selection: cannot prune ", u.k, " more entries of ", u.what, ": only ", unpruned,
                      " of ", n, " are unpruned"));
  }
  TRIM_DISPATCH(dev, select_unit, t, u.k, out);
}

int64_t floor_tolerant(double x) {
  double f = std::floor(x);
  if (f + 1.0 - x <= kCountTolerance * std::max(1.0, x)) f += 1.0;
  return int64_t(f);
}

}  // namespace

int64_t count_for_sparsity(double s, int64_t n) {
  if (!(s >= 0.0 && s <= 1.0)) throw Error(cat("target sparsity must lie in [0, 1], found ", s));
  TRIM_CHECK(n >= 0, cat("count_for_sparsity: negative size ", n));
  return std::min(n, floor_tolerant(s * double(n)));
}

int64_t lt_prune_count(int64_t n_unpruned, int64_t num, int64_t den) {
  TRIM_CHECK(n_unpruned >= 0 && num >= 0 && den > 0 && num < den,
             cat("lt_prune_count: expected n >= 0 and 0 <= num < den, found n = ", n_unpruned, ", ", num, "/", den));
  if (n_unpruned == 0) return 0;
  return ((n_unpruned - 1) * num + den - 1) / den;
}

int64_t filter_prune_count(double r, int64_t n) {
  if (!(r >= 0.0 && r <= 1.0)) throw Error(cat("filter pruning ratio must lie in [0, 1], found ", r));
  TRIM_CHECK(n >= 1, cat("filter_prune_count: a layer needs at least one filter, found ", n));
  double x = r * double(n);
  double c = std::ceil(x);
  if (x - (c - 1.0) <= kCountTolerance * std::max(1.0, x)) c -= 1.0;  // x is an integer up to round-off
  return std::min(int64_t(c), n - 1);
}

int64_t count_zeros(const Tensor& t) {
  check_dtype("count_zeros", t, DType::f32, "t");
  int64_t count = 0;
  TRIM_DISPATCH(t.device(), select_count_zeros, t, count);
  return count;
}

std::vector<Tensor> select_global(const PrunableSet& set, const std::vector<Tensor>& masks, int64_t k) {
  Device dev = check_inputs("select_global", set, masks);
  FlatMasks f = flat_masks(set, dev);
  Unit u;
  u.layers.resize(set.size());
  std::iota(u.layers.begin(), u.layers.end(), 0);
  u.k = k;
  u.what = cat("the global unit (", set.size(), " tensors)");
  select_unit(set, masks, u, f.flat, dev);
  return f.views;
}

std::vector<Tensor> select_per_layer(const PrunableSet& set, const std::vector<Tensor>& masks,
                                     const std::vector<int64_t>& k) {
  Device dev = check_inputs("select_per_layer", set, masks);
  TRIM_CHECK(k.size() == set.size(), cat("select_per_layer: ", k.size(), " counts for ", set.size(), " tensors"));
  FlatMasks f = flat_masks(set, dev);
  for (size_t l = 0; l < set.size(); ++l) {
    Unit u;
    u.layers = {int64_t(l)};
    u.k = k[l];
    u.what = set.names[l];
    select_unit(set, masks, u, f.flat.narrow0(f.offset[l], set.tensors[l].numel()), dev);
  }
  return f.views;
}

std::vector<double> filter_l1(const Tensor& w) {
  check_dtype("filter_l1", w, DType::f32, "w");
  TRIM_CHECK(w.ndim() >= 2, cat("filter_l1: expected a conv or linear weight (>= 2-d), found shape ", w.shape().str()));
  const int64_t rows = w.size(0);
  std::vector<double> scores(size_t(rows), 0.0);
  TRIM_DISPATCH(w.device(), select_filter_l1, w, scores);
  return scores;
}

FilterSelection select_filters(const PrunableSet& set, const std::vector<int64_t>& n_prune) {
  Device dev = check_inputs("select_filters", set, {});
  TRIM_CHECK(n_prune.size() == set.size(), cat("select_filters: ", n_prune.size(), " counts for ", set.size(), " tensors"));
  FilterSelection out;
  FlatMasks f = flat_masks(set, dev);
  for (size_t l = 0; l < set.size(); ++l) {
    const Tensor& w = set.tensors[l];
    if (w.ndim() < 2) throw Error(cat("filter selection: ", set.names[l], " has shape ", w.shape().str(),
                                      "; filters need a conv or linear weight"));
    const int64_t rows = w.size(0);
    if (n_prune[l] < 0 || n_prune[l] > rows - 1)
      throw Error(cat("filter selection: cannot prune ", n_prune[l], " of the ", rows, " filters of ", set.names[l],
                      " (expected 0 to ", rows - 1, "; a layer is never emptied)"));
    std::vector<double> score = filter_l1(w);
    std::vector<int64_t> order(static_cast<size_t>(rows));
    std::iota(order.begin(), order.end(), 0);
    // Ascending score, NaN last (a strict weak order); stable, so ties keep the lower row first.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      double sa = score[size_t(a)], sb = score[size_t(b)];
      if (std::isnan(sa) || std::isnan(sb)) return !std::isnan(sa) && std::isnan(sb);
      return sa < sb;
    });
    std::vector<int64_t> pruned(order.begin(), order.begin() + n_prune[l]);
    std::sort(pruned.begin(), pruned.end());
    std::vector<float> keep(size_t(rows), 1.0f);
    for (int64_t r : pruned) keep[size_t(r)] = 0.0f;
    Tensor dst = f.flat.narrow0(f.offset[l], w.numel());
    TRIM_DISPATCH(dev, select_expand_rows, keep, dst);
    out.pruned.push_back(std::move(pruned));
  }
  out.masks = f.views;
  return out;
}

}  // namespace trim
