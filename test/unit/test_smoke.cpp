#include <catch2/catch.hpp>

#include "core/ops/ops.h"

using namespace trim;

TEST_CASE("tensor round trip and a tiny autograd graph", "[core]") {
  Tensor a = Tensor::from_vector<float>(Shape{3}, {1, -2, 3});
  a.set_requires_grad(true);
  Tensor y = sum(relu(mul(a, a)));
  REQUIRE(y.item() == Approx(14.0));
  y.backward();
  auto g = a.grad().to_vector<float>();
  CHECK(g == std::vector<float>{2, -4, 6});
}
