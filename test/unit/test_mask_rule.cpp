// specs/baselines.md test oracle 5: after 10 SGD steps (momentum 0.9, wd 5e-4, random gradients),
// pruned weights and their momentum are exactly 0.
#include <catch2/catch.hpp>

#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "pruning/mask_rule.h"

using namespace trim;

TEST_CASE("the hard-mask rule keeps pruned weights and momentum at exactly zero", "[pruning][optim]") {
  const int64_t n = 1000;
  std::vector<float> w0(n), m(n);
  for (int64_t i = 0; i < n; ++i) {
    w0[size_t(i)] = philox::normal(1, 0, i);
    m[size_t(i)] = philox::uniform(2, 0, i) < 0.6f ? 0.0f : 1.0f;
  }
  Tensor w = Tensor::from_vector(Shape{n}, w0), dense = Tensor::from_vector(Shape{n}, w0);
  w.set_requires_grad(true);
  dense.set_requires_grad(true);
  Tensor mask = Tensor::from_vector(Shape{n}, m);
  Sgd<MaskRule> opt({{"w", w, true}, {"dense", dense, true}}, {0.1f, 0.9f, false, 5e-4f});
  opt.set_rule_params(0, {mask.data<float>()});
  for (int step = 0; step < 10; ++step) {
    std::vector<float> g(n);
    for (int64_t i = 0; i < n; ++i) g[size_t(i)] = philox::normal(3 + step, 0, i);
    opt.zero_grad();
    w.grad().copy_(Tensor::from_vector(Shape{n}, g));
    dense.grad().copy_(Tensor::from_vector(Shape{n}, g));
    opt.step();
  }
  auto wv = w.to_vector<float>(), dv = dense.to_vector<float>();
  auto vv = opt.state()[0].second.to_vector<float>();
  int64_t pruned = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (m[size_t(i)] == 0.0f) {
      REQUIRE(wv[size_t(i)] == 0.0f);
      REQUIRE(vv[size_t(i)] == 0.0f);
      ++pruned;
    } else {
      REQUIRE(wv[size_t(i)] == dv[size_t(i)]);  // kept weights move exactly as without a mask
    }
  }
  CHECK(pruned > 500);
}
