#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "core/ops/elementwise.h"
#include "core/random/generator.h"
#include "core/random/philox.h"

using namespace trim;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[rng]") {
  auto gen = [](uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3) {
    philox::Block b = philox::generate(uint64_t(k0) | (uint64_t(k1) << 32), c0, c1, c2, c3);
    return std::vector<uint32_t>(b.v, b.v + 4);
  };
  CHECK(gen(0, 0, 0, 0, 0, 0) == std::vector<uint32_t>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(gen(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff) ==
        std::vector<uint32_t>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(gen(0xa4093822, 0x299f31d0, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344) ==
        std::vector<uint32_t>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("uniform, normal and Bernoulli draws have the right moments and are reproducible", "[rng]") {
  const int64_t n = 200000;
  Generator g(5);
  Tensor u = Tensor::empty(Shape{n}), z = Tensor::empty(Shape{n}), b = Tensor::empty(Shape{n});
  uniform_(u, -1.0f, 3.0f, g);
  normal_(z, 2.0f, 0.5f, g);
  bernoulli_(b, 0.3f, g);
  auto moments = [](const std::vector<float>& v) {
    double m = 0, s = 0;
    for (float x : v) m += x;
    m /= double(v.size());
    for (float x : v) s += (x - m) * (x - m);
    return std::pair<double, double>{m, std::sqrt(s / double(v.size()))};
  };
  auto uv = u.to_vector<float>();
  CHECK(*std::min_element(uv.begin(), uv.end()) >= -1.0f);
  CHECK(*std::max_element(uv.begin(), uv.end()) < 3.0f);
  auto [um, us] = moments(uv);
  CHECK(um == Approx(1.0).margin(0.01));
  CHECK(us == Approx(4.0 / std::sqrt(12.0)).margin(0.01));
  auto [zm, zs] = moments(z.to_vector<float>());
  CHECK(zm == Approx(2.0).margin(0.005));
  CHECK(zs == Approx(0.5).margin(0.005));
  auto [bm, bs] = moments(b.to_vector<float>());
  CHECK(bm == Approx(0.3).margin(0.005));

  // Each draw reserved its own blocks: the generator moved by 3 * n / 4 blocks.
  CHECK(g.offset() == uint64_t(3 * n / 4));
  Generator again(5);
  Tensor u2 = Tensor::empty(Shape{n});
  uniform_(u2, -1.0f, 3.0f, again);
  CHECK(u2.to_vector<float>() == uv);
  Generator other(6);
  uniform_(u2, -1.0f, 3.0f, other);
  CHECK(u2.to_vector<float>() != uv);
}

TEST_CASE("random permutations are permutations, reproducible per (seed, stream)", "[rng]") {
  auto p = random_permutation(1000, 3, 7);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[size_t(i)] == i);
  CHECK(random_permutation(1000, 3, 7) == p);
  CHECK(random_permutation(1000, 3, 8) != p);
  CHECK(random_permutation(1000, 4, 7) != p);
  // Every position is equally likely to receive element 0 (chi-square over 10 bins, 20000 draws).
  std::vector<int> hist(10, 0);
  for (uint64_t s = 0; s < 20000; ++s) {
    auto q = random_permutation(10, 11, s);
    hist[size_t(std::find(q.begin(), q.end(), 0) - q.begin())]++;
  }
  double chi2 = 0;
  for (int h : hist) chi2 += (h - 2000.0) * (h - 2000.0) / 2000.0;
  CHECK(chi2 < 27.9);  // p = 0.001 for 9 degrees of freedom
  CHECK(random_permutation(0, 1, 1).empty());
  CHECK(random_permutation(1, 1, 1) == std::vector<int64_t>{0});
}
