// Sparsity and PQ Index reports (pruning/report.h) and SAP's pruning amount (pruning/sap_amount.h):
// the oracles of pruning/README.md#sap and the properties of Thm. 1.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/random/philox.h"
#include "pruning/report.h"
#include "pruning/sap_amount.h"
#include "pruning/select.h"

using namespace trim;
using Catch::Matchers::Contains;

namespace {

double pqi(const std::vector<float>& w, double p, double q) { return pq_index(w.data(), nullptr, int64_t(w.size()), p, q); }

PrunableSet one(const std::vector<float>& w) {
  return {{"w"}, {Tensor::from_vector(Shape{int64_t(w.size())}, w)}};
}

// The Definition-1 form, straight from the norms: 1 − d^{1/q−1/p}·‖w‖_p/‖w‖_q.
double pqi_norms(const std::vector<float>& w, double p, double q) {
  double sp = 0, sq = 0;
  for (float x : w) sp += std::pow(std::fabs(double(x)), p), sq += std::pow(std::fabs(double(x)), q);
  double d = double(w.size());
  return 1.0 - std::pow(d, 1.0 / q - 1.0 / p) * std::pow(sp, 1.0 / p) / std::pow(sq, 1.0 / q);
}

std::vector<float> random_vector(uint64_t seed, int64_t n) {
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[size_t(i)] = philox::normal(seed, 0, i);
  return w;
}

const std::vector<float> kWorked = {16, -9, 4, -2.25f, 1, 0.25f, 0.04f, -0.01f};

}  // namespace

TEST_CASE("sparsity report counts exact zeros per layer and over the set", "[pruning]") {
  PrunableSet s{{"a", "b"},
                {Tensor::from_vector(Shape{2, 3}, std::vector<float>{0, 1, -0.0f, 2, 0, 1e-30f}),
                 Tensor::from_vector(Shape{2, 2}, std::vector<float>{1, 2, 3, 0})}};
  SparsityReport r = sparsity_report(s);
  REQUIRE(r.layers.size() == 2);
  CHECK(r.layers[0].name == "a");
  CHECK(r.layers[0].zeros == 3);  // 0, -0 and 0; 1e-30 is not zero
  CHECK(r.layers[0].sparsity == 0.5);
  CHECK(r.layers[1].zeros == 1);
  CHECK(r.layers[1].sparsity == 0.25);
  CHECK(r.numel == 10);
  CHECK(r.zeros == 4);
  CHECK(r.sparsity == 0.4);
}

TEST_CASE("PQI oracle 1: equal magnitudes give 0, and the index is scale-invariant", "[pruning]") {
  CHECK(std::fabs(pqi({3, -3, 3, 3}, 0.5, 1)) < 1e-12);
  CHECK(std::fabs(pqi({3, -3, 3, 3}, 1, 2)) < 1e-12);
  CHECK(std::fabs(pqi(std::vector<float>(1000, -0.37f), 0.2, 1.8)) < 1e-12);
  std::vector<float> w = random_vector(11, 500);
  for (float alpha : {7.5f, 1e-3f, -2.0f, 1e20f, 1e-20f}) {
    std::vector<float> aw;
    for (float x : w) aw.push_back(alpha * x);
    CHECK(pqi(aw, 0.5, 1) == Approx(pqi(w, 0.5, 1)).margin(1e-12));
    CHECK(pqi(aw, 1, 2) == Approx(pqi(w, 1, 2)).margin(1e-12));
  }
}

TEST_CASE("PQI oracle 2: one non-zero among d = 4 unpruned entries", "[pruning]") {
  std::vector<float> w = {0, 0, -5, 0};
  CHECK(pqi(w, 0.5, 1) == Approx(0.75).margin(1e-12));
  CHECK(pqi(w, 1, 2) == Approx(0.5).margin(1e-12));
  // The masked-out entries do not count; the unpruned exact zeros do.
  std::vector<float> w8 = {0, 9, 0, 7, -5, 8, 0, 6};
  std::vector<float> m8 = {1, 0, 1, 0, 1, 0, 1, 0};
  CHECK(pq_index(w8.data(), m8.data(), 8, 0.5, 1) == Approx(0.75).margin(1e-12));
  auto units = pq_index_report(one(w8), {Tensor::from_vector(Shape{8}, m8)}, 1, 2, PqiScope::layer);
  REQUIRE(units.size() == 1);
  CHECK(units[0].d == 4);
  CHECK(units[0].value == Approx(0.5).margin(1e-12));
}

TEST_CASE("PQI oracle 3: the worked example, its amount and the weights it prunes", "[pruning]") {
  double i = pqi(kWorked, 0.5, 1);
  CHECK(i == Approx(0.4190092).margin(1e-7));
  SapAmount a;  // (0.5, 1), eta 0, gamma 1, beta 0.9
  CHECK(sap_retained(8, i, a) == Approx(4.6479263).margin(1e-7));
  CHECK(sap_prune_count(8, i, a) == 3);
  auto m = select_per_layer(one(kWorked), {}, {3})[0].to_vector<float>();
  CHECK(m == std::vector<float>{1, 1, 1, 1, 1, 0, 0, 0});  // 0.25, 0.04, -0.01
}

TEST_CASE("PQI oracle 4: the worked example under other settings", "[pruning]") {
  SapAmount a12{1, 2, 0, 1, 0.9};
  double i12 = pqi(kWorked, 1, 2);
  CHECK(i12 == Approx(0.3927295).margin(1e-7));
  CHECK(sap_retained(8, i12, a12) == Approx(2.9502192).margin(1e-7));
  CHECK(sap_prune_count(8, i12, a12) == 5);
  auto m = select_per_layer(one(kWorked), {}, {5})[0].to_vector<float>();
  CHECK(m == std::vector<float>{1, 1, 1, 0, 0, 0, 0, 0});  // keep 16, -9, 4

  double i = pqi(kWorked, 0.5, 1);
  SapAmount eta{0.5, 1, 0.1, 1, 0.9};
  CHECK(sap_retained(8, i, eta) == Approx(3.8412614).margin(1e-7));
  CHECK(sap_prune_count(8, i, eta) == 4);
  SapAmount gamma{0.5, 1, 0, 3, 0.9};
  CHECK(sap_prune_count(8, i, gamma) == 7);  // 3 * 3/8 capped at 0.9
}

TEST_CASE("PQI oracle 5: ties prune the exact count, toward the lower index", "[pruning]") {
  std::vector<float> w = {16, 9, 4, 4, 1, 1, 1, 1, 0.25f, 0.25f};
  double i = pqi(w, 0.5, 1);
  CHECK(i == Approx(0.3173333).margin(1e-7));
  SapAmount a;
  CHECK(sap_retained(10, i, a) == Approx(6.8266667).margin(1e-7));
  int64_t c = sap_prune_count(10, i, a);
  CHECK(c == 3);  // the reference's "|w| < pivot" rule would prune only 2
  auto m = select_per_layer(one(w), {}, {c})[0].to_vector<float>();
  CHECK(m == std::vector<float>{1, 1, 1, 1, 0, 1, 1, 1, 0, 0});
}

TEST_CASE("PQI equals the norm form of Definition 1 and respects the bounds of Thm. 1", "[pruning]") {
  const std::pair<double, double> pqs[] = {{0.5, 1}, {1, 2}, {0.2, 1}, {0.8, 1}, {1, 1.2}, {1, 1.8}, {0.3, 4}};
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    std::vector<float> w = random_vector(seed, 50 + int64_t(seed) * 37);
    const double d = double(w.size());
    for (auto [p, q] : pqs) {
      double i = pqi(w, p, q);
      CHECK(i == Approx(pqi_norms(w, p, q)).margin(1e-12));
      CHECK(i >= 0.0);
      CHECK(i <= 1.0 - std::pow(d, 1.0 / q - 1.0 / p) + 1e-12);
    }
  }
  // The upper bound is reached by exactly one non-zero entry.
  std::vector<float> spike(37, 0.0f);
  spike[20] = 2.5f;
  CHECK(pqi(spike, 0.2, 1) == Approx(1.0 - std::pow(37.0, 1.0 - 5.0)).margin(1e-12));
  spike[3] = 1e-3f;  // a second non-zero entry, however small, stays below it
  CHECK(pqi(spike, 0.2, 1) < 1.0 - std::pow(37.0, 1.0 - 5.0) - 1e-7);
}

TEST_CASE("PQI grows as mass concentrates and is unchanged by cloning", "[pruning]") {
  // Robin Hood in reverse (Hurley–Rickard D1): moving mass from a small entry to a large one.
  double prev = -1.0;
  for (int t = 0; t <= 9; ++t) {
    float e = 0.1f * float(t);
    double i = pqi({1.0f + e, 1.0f - e, 1.0f, 0.5f}, 0.5, 1);
    CHECK(i > prev);
    prev = i;
  }
  // Cloning (D4): w and w‖w have the same index.
  std::vector<float> w = random_vector(7, 64), ww = w;
  ww.insert(ww.end(), w.begin(), w.end());
  CHECK(pqi(ww, 0.5, 1) == Approx(pqi(w, 0.5, 1)).margin(1e-12));
  // Rising tide (D2): adding a constant to every magnitude lowers the index.
  std::vector<float> up;
  for (float x : w) up.push_back(std::fabs(x) + 1.0f);
  CHECK(pqi(up, 1, 2) < pqi(w, 1, 2));
}

TEST_CASE("PQI edge cases: empty, all zero, non-finite, bad (p, q)", "[pruning]") {
  std::vector<float> z(5, 0.0f), m(5, 0.0f);
  CHECK(pqi(z, 0.5, 1) == 0.0);
  std::vector<float> w = {1, 2, 3, 4, 5};
  CHECK(pq_index(w.data(), m.data(), 5, 0.5, 1) == 0.0);  // d = 0
  CHECK(pq_index(w.data(), nullptr, 0, 0.5, 1) == 0.0);
  CHECK(std::isnan(pqi({1, INFINITY, 2}, 0.5, 1)));
  CHECK(std::isnan(pqi({1, NAN, 2}, 0.5, 1)));
  CHECK_THROWS_WITH(pqi(w, 1, 1), Contains("0 < p < q"));
  CHECK_THROWS_WITH(pqi(w, 0, 1), Contains("0 < p < q"));
  CHECK_THROWS_WITH(pqi(w, 2, 1), Contains("0 < p < q"));
  CHECK_THROWS_WITH(sap_prune_count(8, 0.2, SapAmount{0.5, 1, 0, 1, 1.0}), Contains("beta"));
  CHECK(sap_prune_count(0, 0.0, SapAmount{}) == 0);
}

TEST_CASE("PQI report scopes: global, layer and neuron units", "[pruning]") {
  std::vector<float> a = random_vector(21, 12), b = random_vector(22, 6);
  std::vector<float> ma(12, 1.0f), mb(6, 1.0f);
  ma[3] = ma[7] = 0.0f;
  mb[0] = 0.0f;
  PrunableSet s{{"a", "b"}, {Tensor::from_vector(Shape{3, 2, 2}, a), Tensor::from_vector(Shape{2, 3}, b)}};
  std::vector<Tensor> masks = {Tensor::from_vector(Shape{3, 2, 2}, ma), Tensor::from_vector(Shape{2, 3}, mb)};

  auto g = pq_index_report(s, masks, 0.5, 1, PqiScope::global);
  REQUIRE(g.size() == 1);
  std::vector<float> cat_w = a, cat_m = ma;
  cat_w.insert(cat_w.end(), b.begin(), b.end());
  cat_m.insert(cat_m.end(), mb.begin(), mb.end());
  CHECK(g[0].layer == -1);
  CHECK(g[0].d == 15);
  CHECK(g[0].value == Approx(pq_index(cat_w.data(), cat_m.data(), 18, 0.5, 1)).margin(1e-15));

  auto l = pq_index_report(s, masks, 0.5, 1, PqiScope::layer);
  REQUIRE(l.size() == 2);
  CHECK(l[1].layer == 1);
  CHECK(l[1].d == 5);
  CHECK(l[0].value == Approx(pq_index(a.data(), ma.data(), 12, 0.5, 1)).margin(1e-15));
  CHECK(l[1].value == Approx(pq_index(b.data(), mb.data(), 6, 0.5, 1)).margin(1e-15));

  auto n = pq_index_report(s, masks, 1, 2, PqiScope::neuron);
  REQUIRE(n.size() == 5);  // 3 rows of a, 2 of b
  CHECK(n[1].layer == 0);
  CHECK(n[1].row == 1);
  CHECK(n[1].d == 3);  // row 1 of a: entries 4..7, entry 7 pruned
  CHECK(n[1].value == Approx(pq_index(a.data() + 4, ma.data() + 4, 4, 1, 2)).margin(1e-15));
  CHECK(n[3].layer == 1);
  CHECK(n[3].row == 0);
  CHECK(n[3].value == Approx(pq_index(b.data(), mb.data(), 3, 1, 2)).margin(1e-15));

  auto dense = pq_index_report(s, {}, 0.5, 1, PqiScope::global);
  CHECK(dense[0].d == 18);
}
