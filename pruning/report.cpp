#include "pruning/report.h"

#include <algorithm>
#include <cmath>

namespace trim {

namespace {

struct Span {
  const float* w;
  const float* mask;  // nullptr: all counted
  int64_t n;
};

bool counted(const Span& s, int64_t i) { return !s.mask || s.mask[i] != 0.0f; }

// I_{p,q} over the counted entries of all spans together (see pq_index).
double pq_index_spans(const std::vector<Span>& spans, double p, double q) {
  int64_t d = 0;
  double amax = 0.0;
  for (const Span& s : spans)
    for (int64_t i = 0; i < s.n; ++i) {
      if (!counted(s, i)) continue;
      double a = std::fabs(double(s.w[i]));
      if (!std::isfinite(a)) return std::nan("");
      amax = std::max(amax, a);
      ++d;
    }
  if (d == 0 || amax == 0.0) return 0.0;
  double sp = 0.0, sq = 0.0;
  for (const Span& s : spans)
    for (int64_t i = 0; i < s.n; ++i) {
      if (!counted(s, i)) continue;
      double a = std::fabs(double(s.w[i])) / amax;
      if (a == 0.0) continue;  // 0^r = 0 for r > 0
      sp += std::pow(a, p);
      sq += std::pow(a, q);
    }
  double mp = std::pow(sp / double(d), 1.0 / p), mq = std::pow(sq / double(d), 1.0 / q);
  return std::max(0.0, 1.0 - mp / mq);
}

void check_pq(double p, double q) {
  if (!(std::isfinite(p) && std::isfinite(q) && p > 0.0 && p < q))
    throw Error(cat("PQ Index: expected 0 < p < q, found p = ", p, ", q = ", q));
}

}  // namespace

SparsityReport sparsity_report(const PrunableSet& set) {
  SparsityReport r;
  for (size_t l = 0; l < set.size(); ++l) {
    const Tensor& t = set.tensors[l];
    check_dtype("sparsity_report", t, DType::f32, set.names[l].c_str());
    std::vector<float> v = t.to_vector<float>();
    LayerSparsity s;
    s.name = set.names[l];
    s.numel = t.numel();
    s.zeros = int64_t(std::count(v.begin(), v.end(), 0.0f));
    s.sparsity = s.numel ? double(s.zeros) / double(s.numel) : 0.0;
    r.numel += s.numel;
    r.zeros += s.zeros;
    r.layers.push_back(std::move(s));
  }
  r.sparsity = r.numel ? double(r.zeros) / double(r.numel) : 0.0;
  return r;
}

double pq_index(const float* w, const float* mask, int64_t n, double p, double q) {
  check_pq(p, q);
  return pq_index_spans({Span{w, mask, n}}, p, q);
}

std::vector<PqiUnit> pq_index_report(const PrunableSet& set, const std::vector<Tensor>& masks, double p, double q,
                                     PqiScope scope) {
  check_pq(p, q);
  TRIM_CHECK(masks.empty() || masks.size() == set.size(),
             cat("pq_index_report: ", masks.size(), " masks for ", set.size(), " tensors"));
  // One host copy of every tensor and mask.
  std::vector<std::vector<float>> w(set.size()), m(masks.size());
  for (size_t l = 0; l < set.size(); ++l) {
    check_dtype("pq_index_report", set.tensors[l], DType::f32, set.names[l].c_str());
    w[l] = set.tensors[l].to_vector<float>();
    if (!masks.empty()) {
      check_dtype("pq_index_report", masks[l], DType::f32, "mask");
      check_shape("pq_index_report", masks[l], set.tensors[l].shape(), "mask");
      m[l] = masks[l].to_vector<float>();
    }
  }
  auto span = [&](size_t l, int64_t start, int64_t len) {
    return Span{w[l].data() + start, masks.empty() ? nullptr : m[l].data() + start, len};
  };
  auto count = [](const std::vector<Span>& spans) {
    int64_t d = 0;
    for (const Span& s : spans)
      for (int64_t i = 0; i < s.n; ++i) d += counted(s, i);
    return d;
  };
  std::vector<PqiUnit> out;
  auto add = [&](int64_t layer, int64_t row, const std::vector<Span>& spans) {
    out.push_back({layer, row, count(spans), pq_index_spans(spans, p, q)});
  };
  if (scope == PqiScope::global) {
    std::vector<Span> all;
    for (size_t l = 0; l < set.size(); ++l) all.push_back(span(l, 0, int64_t(w[l].size())));
    add(-1, -1, all);
  } else {
    for (size_t l = 0; l < set.size(); ++l) {
      const Tensor& t = set.tensors[l];
      if (scope == PqiScope::layer) {
        add(int64_t(l), -1, {span(l, 0, t.numel())});
        continue;
      }
      const int64_t rows = t.ndim() > 0 ? t.size(0) : 1;
      const int64_t cols = rows ? t.numel() / rows : 0;
      for (int64_t r = 0; r < rows; ++r) add(int64_t(l), r, {span(l, r * cols, cols)});
    }
  }
  return out;
}

}  // namespace trim
