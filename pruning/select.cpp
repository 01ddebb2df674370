#include "pruning/select.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/cpu/parallel.h"
#include "pruning/select_math.h"
#ifdef TRIM_HAVE_CUDA
#include "pruning/select_cuda.h"
#endif

namespace trim {

namespace {

constexpr double kCountTolerance = 1e-12;  // far above product round-off (~1e-16), far below a real fraction

#ifndef TRIM_HAVE_CUDA
[[noreturn]] void no_cuda(const char* what) {
  throw Error(cat(what, ": the tensors are on a CUDA device, but this build has no CUDA backend"));
}
#endif

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

void select_unit_cpu(const PrunableSet& set, const std::vector<Tensor>& masks, const Unit& u, float* out) {
  int64_t n = 0;
  for (int64_t l : u.layers) n += set.tensors[size_t(l)].numel();
  check_unit_size(u, n);
  // (key << 32 | flat index): one 64-bit compare orders by |w|, then by the lower index.
  std::vector<uint64_t> ranked;
  ranked.reserve(size_t(n));
  int64_t base = 0;
  for (int64_t l : u.layers) {
    const Tensor& w = set.tensors[size_t(l)];
    const float* wp = w.data<float>();
    const float* mp = masks.empty() ? nullptr : masks[size_t(l)].data<float>();
    cpu::map(w.numel(), sel::InitMask{mp, out + base});
    for (int64_t i = 0; i < w.numel(); ++i)
      if (!mp || mp[i] != 0.0f) ranked.push_back(uint64_t(sel::magnitude_key(wp[i])) << 32 | uint64_t(base + i));
    base += w.numel();
  }
  if (u.k > int64_t(ranked.size()))
    throw Error(cat("magnitude selection: cannot prune ", u.k, " more entries of ", u.what, ": only ",
                    ranked.size(), " of ", n, " are unpruned"));
  if (u.k == 0) return;
  std::nth_element(ranked.begin(), ranked.begin() + (u.k - 1), ranked.end());
  // nth_element leaves the k − 1 smaller elements before the k-th; all keys are distinct.
  for (int64_t i = 0; i < u.k; ++i) out[ranked[size_t(i)] & 0xffffffffu] = 0.0f;
}

void select_unit(const PrunableSet& set, const std::vector<Tensor>& masks, const Unit& u, float* out, Device dev) {
  if (u.k < 0) throw Error(cat("magnitude selection: the count for ", u.what, " is negative (", u.k, ")"));
  if (dev.is_cpu()) return select_unit_cpu(set, masks, u, out);
#ifdef TRIM_HAVE_CUDA
  std::vector<pruning_cuda::Part> parts;
  int64_t n = 0;
  for (int64_t l : u.layers) {
    const Tensor& w = set.tensors[size_t(l)];
    parts.push_back({w.data<float>(), masks.empty() ? nullptr : masks[size_t(l)].data<float>(), w.numel()});
    n += w.numel();
  }
  check_unit_size(u, n);
  if (u.k > 0) {
    int64_t unpruned = n;
    if (!masks.empty())
      for (int64_t l : u.layers) unpruned -= count_zeros(masks[size_t(l)]);
    if (u.k > unpruned)
      throw Error(cat("magnitude selection: cannot prune ", u.k, " more entries of ", u.what, ": only ", unpruned,
                      " of ", n, " are unpruned"));
  }
  pruning_cuda::select_unit(parts, u.k, out);
#else
  no_cuda("magnitude selection");
#endif
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
  if (t.is_cuda()) {
#ifdef TRIM_HAVE_CUDA
    return pruning_cuda::count_zeros(t.data<float>(), t.numel());
#else
    no_cuda("count_zeros");
#endif
  }
  const float* p = t.data<float>();
  return int64_t(std::count(p, p + t.numel(), 0.0f));
}

std::vector<Tensor> select_global(const PrunableSet& set, const std::vector<Tensor>& masks, int64_t k) {
  Device dev = check_inputs("select_global", set, masks);
  FlatMasks f = flat_masks(set, dev);
  Unit u;
  u.layers.resize(set.size());
  std::iota(u.layers.begin(), u.layers.end(), 0);
  u.k = k;
  u.what = cat("the global unit (", set.size(), " tensors)");
  select_unit(set, masks, u, f.flat.data<float>(), dev);
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
    select_unit(set, masks, u, f.flat.data<float>() + f.offset[l], dev);
  }
  return f.views;
}

std::vector<double> filter_l1(const Tensor& w) {
  check_dtype("filter_l1", w, DType::f32, "w");
  TRIM_CHECK(w.ndim() >= 2, cat("filter_l1: expected a conv or linear weight (>= 2-d), found shape ", w.shape().str()));
  const int64_t rows = w.size(0), cols = w.numel() / std::max<int64_t>(1, rows);
  std::vector<double> scores(size_t(rows), 0.0);
  if (w.is_cuda()) {
#ifdef TRIM_HAVE_CUDA
    pruning_cuda::filter_l1(w.data<float>(), rows, cols, scores.data());
    return scores;
#else
    no_cuda("filter_l1");
#endif
  }
  const float* p = w.data<float>();
  cpu::parallel_for(rows, rows * cols >= cpu::kParallelGrain, [&](int64_t r) {
    double lane[sel::kL1Lanes] = {};
    const float* row = p + r * cols;
    for (int64_t j = 0; j < cols; ++j) lane[j % sel::kL1Lanes] += sel::abs_as_double(row[j]);
    for (int s = sel::kL1Lanes / 2; s > 0; s /= 2)
      for (int t = 0; t < s; ++t) lane[t] += lane[t + s];
    scores[size_t(r)] = lane[0];
  });
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
    const int64_t rows = w.size(0), cols = w.numel() / std::max<int64_t>(1, rows);
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
    float* dst = f.flat.data<float>() + f.offset[l];
    if (dev.is_cpu()) {
      cpu::map(w.numel(), sel::ExpandRows{keep.data(), cols, dst});
    } else {
#ifdef TRIM_HAVE_CUDA
      pruning_cuda::expand_rows(keep, cols, dst);
#else
      no_cuda("filter selection");
#endif
    }
    out.pruned.push_back(std::move(pruned));
  }
  out.masks = f.views;
  return out;
}

}  // namespace trim
