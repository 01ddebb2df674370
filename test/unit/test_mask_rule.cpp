// pruning/README.md test oracle 5: after 10 SGD steps (momentum 0.9, wd 5e-4, random gradients),
// pruned weights and their momentum are exactly 0.
#include <catch2/catch.hpp>

#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "core/ops/elementwise.h"
#include "pruning/greg_rule.h"
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

TEST_CASE("rule pieces compose in order: Then<PenaltyRule, MaskRule> masks the penalty, the reverse does not",
          "[pruning][optim]") {
  Tensor lambda = Tensor::from_vector(Shape{1}, std::vector<float>{0.5f});
  Tensor mask = Tensor::from_vector(Shape{2}, std::vector<float>{0.0f, 1.0f});
  const float* l = lambda.data<float>();
  const float* m = mask.data<float>();
  // Element 0 (w = 2, g = 1, lambda = 0.5, m = 0): penalty then mask gives (1 + 0.5 * 2) * 0, mask
  // then penalty 1 * 0 + 0.5 * 2.
  CHECK(Then<PenaltyRule, MaskRule>::grad({{l, 2}, {m}}, {}, 0, 2.0f, 1.0f) == 0.0f);
  CHECK(Then<MaskRule, PenaltyRule>::grad({{m}, {l, 2}}, {}, 0, 2.0f, 1.0f) == 1.0f);
  // One plain step (lr 1, no momentum, no decay) with GReg's chain on w = [2, 3], g = [1, 1]:
  // w = [2 - 0, 3 - (1 + 0.5 * 3)] * m = [0, 0.5].
  Tensor w = Tensor::from_vector(Shape{2}, std::vector<float>{2.0f, 3.0f});
  w.set_requires_grad(true);
  Sgd<GregRule> opt({{"w", w, true}}, {1.0f, 0.0f, false, 0.0f});
  opt.set_rule_params(0, {{l, 2}, {m}});
  opt.zero_grad();
  w.grad().copy_(Tensor::from_vector(Shape{2}, std::vector<float>{1.0f, 1.0f}));
  opt.step();
  CHECK(w.to_vector<float>() == std::vector<float>{0.0f, 0.5f});
}

TEST_CASE("mul_ multiplies in place, unrecorded, and checks its operands", "[ops][pruning]") {
  Tensor y = Tensor::from_vector(Shape{3}, std::vector<float>{1.5f, -2.0f, 4.0f});
  Tensor m = Tensor::from_vector(Shape{3}, std::vector<float>{0.0f, 1.0f, 0.5f});
  mul_(y, m);
  CHECK(y.to_vector<float>() == std::vector<float>{0.0f, -2.0f, 2.0f});
  Tensor bad = Tensor::zeros(Shape{2}, DType::f32);
  CHECK_THROWS_WITH(mul_(y, bad), Catch::Contains("mul_"));
}
