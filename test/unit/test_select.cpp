// Magnitude and filter selection on the CPU (pruning/select.h): the oracles of pruning/README.md
// and pruning/README.md#greg, hand-made ties, and a brute-force reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/random/philox.h"
#include "pruning/select.h"

using namespace trim;
using Catch::Matchers::Contains;

namespace {

PrunableSet set_of(const std::vector<std::vector<float>>& ws) {
  PrunableSet s;
  for (size_t i = 0; i < ws.size(); ++i) {
    s.names.push_back(cat("t", i));
    s.tensors.push_back(Tensor::from_vector(Shape{int64_t(ws[i].size())}, ws[i]));
  }
  return s;
}

std::vector<std::vector<float>> host(const std::vector<Tensor>& ms) {
  std::vector<std::vector<float>> out;
  for (const Tensor& m : ms) out.push_back(m.to_vector<float>());
  return out;
}

// Brute force: sort all unpruned (|w|, flat index) pairs and prune the first k.
std::vector<float> reference(const std::vector<float>& w, const std::vector<float>& m, int64_t k) {
  std::vector<int64_t> idx;
  for (size_t i = 0; i < w.size(); ++i)
    if (m.empty() || m[i] != 0.0f) idx.push_back(int64_t(i));
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return std::fabs(w[size_t(a)]) < std::fabs(w[size_t(b)]); });
  std::vector<float> out(w.size(), 1.0f);
  for (size_t i = 0; i < w.size(); ++i)
    if (!m.empty() && m[i] == 0.0f) out[i] = 0.0f;
  for (int64_t i = 0; i < k; ++i) out[size_t(idx[size_t(i)])] = 0.0f;
  return out;
}

}  // namespace

TEST_CASE("baselines oracle 2: global vs layer-wise one-shot magnitude pruning", "[pruning]") {
  PrunableSet s = set_of({{0.1f, -0.5f, 0.3f, 0.05f}, {2.0f, -0.2f, 1.0f, 0.4f}});
  int64_t k = count_for_sparsity(0.5, s.numel());
  CHECK(k == 4);
  auto g = host(select_global(s, {}, k));
  CHECK(g[0] == std::vector<float>{0, 1, 0, 0});
  CHECK(g[1] == std::vector<float>{1, 0, 1, 1});
  auto l = host(select_per_layer(s, {}, {count_for_sparsity(0.5, 4), count_for_sparsity(0.5, 4)}));
  CHECK(l[0] == std::vector<float>{0, 1, 1, 0});
  CHECK(l[1] == std::vector<float>{1, 0, 1, 0});
}

TEST_CASE("ties go to the lower flat index, across tensors too", "[pruning]") {
  PrunableSet s = set_of({{1.0f, 0.5f, -0.5f, 0.5f}, {-0.5f, 2.0f}});
  CHECK(host(select_global(s, {}, 2))[0] == std::vector<float>{1, 0, 0, 1});
  CHECK(host(select_global(s, {}, 3))[0] == std::vector<float>{1, 0, 0, 0});
  auto four = host(select_global(s, {}, 4));
  CHECK(four[0] == std::vector<float>{1, 0, 0, 0});
  CHECK(four[1] == std::vector<float>{0, 1});
  // -0 and +0 are equal magnitudes; NaN ranks above +inf.
  CHECK(host(select_global(set_of({{0.0f, -0.0f, 0.0f}}), {}, 1))[0] == std::vector<float>{0, 1, 1});
  CHECK(host(select_global(set_of({{-0.0f, 0.0f}}), {}, 1))[0] == std::vector<float>{0, 1});
  CHECK(host(select_global(set_of({{NAN, INFINITY, 1.0f, -INFINITY}}), {}, 3))[0] == std::vector<float>{1, 0, 0, 0});
  CHECK(host(select_global(s, {}, 0))[1] == std::vector<float>{1, 1});
  CHECK(host(select_global(s, {}, 6))[1] == std::vector<float>{0, 0});
}

TEST_CASE("already-pruned entries are not ranked and stay pruned", "[pruning]") {
  PrunableSet s = set_of({{5.0f, 1.0f, 2.0f, 3.0f}, {0.0f, 4.0f}});
  std::vector<Tensor> m = {Tensor::from_vector(Shape{4}, std::vector<float>{1, 0, 1, 1}),
                           Tensor::from_vector(Shape{2}, std::vector<float>{1, 1})};
  auto g = host(select_global(s, m, 2));
  CHECK(g[0] == std::vector<float>{1, 0, 0, 1});  // 1.0 was pruned already: 0.0 and 2.0 go
  CHECK(g[1] == std::vector<float>{0, 1});
  // A pruned entry may hold any value (OS ranks the dense weights): still skipped.
  m[0] = Tensor::from_vector(Shape{4}, std::vector<float>{0, 1, 1, 1});
  CHECK(host(select_per_layer(s, m, {1, 0}))[0] == std::vector<float>{0, 0, 1, 1});
  CHECK_THROWS_WITH(select_per_layer(s, m, {4, 0}), Contains("cannot prune 4 more entries of t0") &&
                                                        Contains("only 3 of 4 are unpruned"));
  CHECK_THROWS_WITH(select_global(s, {}, 7), Contains("only 6 of 6"));
  CHECK_THROWS_WITH(select_global(s, {}, -1), Contains("negative"));
}

TEST_CASE("baselines oracles 3 and 6: LT counts, nesting, top-n sets of one dense ranking", "[pruning]") {
  std::vector<int64_t> remaining = {10};
  while (remaining.size() < 9) remaining.push_back(remaining.back() - lt_prune_count(remaining.back()));
  CHECK(remaining == std::vector<int64_t>{10, 8, 6, 5, 4, 3, 2, 1, 1});
  CHECK(lt_prune_count(0) == 0);
  CHECK(lt_prune_count(11) == 2);  // ⌈10 · 0.2⌉ exactly, no float overshoot

  std::vector<float> dense = {0.3f, -0.9f, 0.1f, 0.7f, -0.2f, 0.5f, 0.05f, -1.1f, 0.4f, 0.8f};
  PrunableSet s = set_of({dense});
  std::vector<int64_t> order(10);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return std::fabs(dense[size_t(a)]) > std::fabs(dense[size_t(b)]); });
  std::vector<Tensor> masks;
  std::vector<float> prev(10, 1.0f);
  for (size_t t = 1; t < remaining.size(); ++t) {
    masks = select_per_layer(s, masks, {remaining[t - 1] - remaining[t]});
    auto m = masks[0].to_vector<float>();
    std::vector<float> top(10, 0.0f);
    for (int64_t i = 0; i < remaining[t]; ++i) top[size_t(order[size_t(i)])] = 1.0f;
    CHECK(m == top);
    for (size_t i = 0; i < 10; ++i) CHECK(m[i] <= prev[i]);
    prev = m;
  }
}

TEST_CASE("unstructured and filter counts avoid floating-point off-by-one", "[pruning]") {
  CHECK(count_for_sparsity(0.29, 100) == 29);  // 0.29 * 100 = 28.999999999999996
  CHECK(count_for_sparsity(0.5, 7) == 3);
  CHECK(count_for_sparsity(0.9, 10) == 9);
  CHECK(count_for_sparsity(0.999, 1000000) == 999000);
  CHECK(count_for_sparsity(1.0, 17) == 17);
  CHECK(count_for_sparsity(0.0, 17) == 0);
  CHECK(count_for_sparsity(0.8999999, 10) == 8);  // a real fraction below the integer still floors
  CHECK(count_for_sparsity(0.9, 25'488'000) == 22'939'200);
  CHECK_THROWS_WITH(count_for_sparsity(1.5, 10), Contains("[0, 1]"));
  CHECK(filter_prune_count(0.7, 64) == 45);   // greg oracle 3
  CHECK(filter_prune_count(0.95, 16) == 15);  // capped at n − 1
  CHECK(filter_prune_count(0.7, 10) == 7);
  CHECK(filter_prune_count(0.3, 10) == 3);
  CHECK(filter_prune_count(0.5, 3) == 2);
  CHECK(filter_prune_count(1.0, 4) == 3);
  CHECK(filter_prune_count(0.0, 4) == 0);
  CHECK(filter_prune_count(0.7000001, 10) == 8);  // a real fraction above the integer still ceils
}

TEST_CASE("CPU selection matches a brute-force sort on tie-heavy random weights", "[pruning]") {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::vector<std::vector<float>> ws;
    std::vector<float> all, all_m;
    std::vector<Tensor> masks;
    std::vector<std::vector<float>> ms;
    for (int64_t l = 0; l < 3; ++l) {
      int64_t n = 200 + 150 * l + int64_t(seed);
      std::vector<float> w(static_cast<size_t>(n)), m(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        w[size_t(i)] = std::round(philox::normal(seed, uint64_t(l), i) * 4.0f) / 4.0f;  // few distinct magnitudes
        m[size_t(i)] = philox::uniform(seed + 100, uint64_t(l), i) < 0.3f ? 0.0f : 1.0f;
      }
      ws.push_back(w);
      ms.push_back(m);
      masks.push_back(Tensor::from_vector(Shape{n}, m));
      all.insert(all.end(), w.begin(), w.end());
      all_m.insert(all_m.end(), m.begin(), m.end());
    }
    PrunableSet s = set_of(ws);
    int64_t k = 311 + int64_t(seed);
    auto g = host(select_global(s, masks, k));
    std::vector<float> flat;
    for (auto& v : g) flat.insert(flat.end(), v.begin(), v.end());
    CHECK(flat == reference(all, all_m, k));
    std::vector<int64_t> kl = {50, 0, 170};
    auto l = host(select_per_layer(s, masks, kl));
    for (size_t i = 0; i < 3; ++i) CHECK(l[i] == reference(ws[i], ms[i], kl[i]));
    CHECK(count_zeros(Tensor::from_vector(Shape{int64_t(flat.size())}, flat)) ==
          int64_t(std::count(all_m.begin(), all_m.end(), 0.0f)) + k);
  }
}

TEST_CASE("masks keep the weights' shapes and live on their device", "[pruning]") {
  PrunableSet s{{"conv", "fc"}, {Tensor::full(Shape{2, 3, 1, 1}, 1.0f), Tensor::full(Shape{4, 2}, 2.0f)}};
  auto m = select_global(s, {}, 3);
  CHECK(m[0].shape() == s.tensors[0].shape());
  CHECK(m[1].shape() == s.tensors[1].shape());
  CHECK(m[0].device() == Device::cpu());
  CHECK(m[0].to_vector<float>() == std::vector<float>{0, 0, 0, 1, 1, 1});
  CHECK(count_zeros(m[1]) == 0);
  CHECK_THROWS_WITH(select_global(s, {Tensor::full(Shape{6}, 1.0f)}, 1), Contains("1 masks for 2 tensors"));
  CHECK_THROWS_WITH(select_global(s, {Tensor::full(Shape{6}, 1.0f), Tensor::full(Shape{8}, 1.0f)}, 1),
                    Contains("mask"));
}

TEST_CASE("greg oracle 4 and filter selection: smallest L1 filters, ties to the lower row", "[pruning]") {
  // Filter [[0.3], [-0.1]] (in = 2, 1x1 kernel): L1 0.4, mean 0.2.
  Tensor one = Tensor::from_vector(Shape{1, 2, 1, 1}, std::vector<float>{0.3f, -0.1f});
  CHECK(filter_l1(one)[0] / 2.0 == Approx(0.2).margin(1e-8));
  // Rows scored 2, 1, 2, 1: the 1s first (rows 1 and 3), then row 0 before row 2.
  PrunableSet s{{"conv"}, {Tensor::from_vector(Shape{4, 2, 1, 1}, std::vector<float>{1, -1, 0.5f, 0.5f, -1, 1, 0.25f, 0.75f})}};
  CHECK(filter_l1(s.tensors[0]) == std::vector<double>{2, 1, 2, 1});
  FilterSelection two = select_filters(s, {2});
  CHECK(two.pruned[0] == std::vector<int64_t>{1, 3});
  CHECK(two.masks[0].to_vector<float>() == std::vector<float>{1, 1, 0, 0, 1, 1, 0, 0});
  CHECK(two.masks[0].shape() == s.tensors[0].shape());
  FilterSelection three = select_filters(s, {3});
  CHECK(three.pruned[0] == std::vector<int64_t>{0, 1, 3});
  CHECK(select_filters(s, {0}).masks[0].to_vector<float>() == std::vector<float>(8, 1.0f));
  CHECK_THROWS_WITH(select_filters(s, {4}), Contains("cannot prune 4 of the 4 filters of conv") &&
                                                Contains("never emptied"));
  // A linear weight: filters are its output rows.
  PrunableSet fc{{"fc"}, {Tensor::from_vector(Shape{3, 2}, std::vector<float>{3, 3, -1, 0, 2, 2})}};
  CHECK(select_filters(fc, {1}).pruned[0] == std::vector<int64_t>{1});
  // Long rows use every lane of the fixed summation order.
  std::vector<float> big(2 * 1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = philox::normal(9, 0, int64_t(i));
  auto sc = filter_l1(Tensor::from_vector(Shape{2, 1000}, big));
  double plain = 0;
  for (size_t i = 1000; i < 2000; ++i) plain += std::fabs(double(big[i]));
  CHECK(sc[1] == Approx(plain).epsilon(1e-12));
}
