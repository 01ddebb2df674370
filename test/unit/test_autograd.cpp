#include <catch2/catch.hpp>

#include "core/autograd/grad_mode.h"
#include "core/memory.h"
#include "core/ops/ops.h"

#include "test/support/fixtures.h"

using namespace trim;

using test::leaf;

TEST_CASE("gradients accumulate across backward calls and through shared subexpressions", "[autograd]") {
  Tensor a = leaf({1, 2}), b = leaf({3, -1});
  Tensor y = mul(a, b);
  Tensor z = sum(add(y, y));  // dz/da = 2b, dz/db = 2a
  z.backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{6, -2});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{2, 4});
  sum(mul(a, a)).backward();  // adds 2a
  CHECK(a.grad().to_vector<float>() == std::vector<float>{8, 2});
}

TEST_CASE("backward refuses freed graphs, non-scalars and tensors without history", "[autograd]") {
  Tensor a = leaf({1, 2});
  Tensor s = sum(mul(a, a));
  s.backward();
  CHECK_THROWS_WITH(s.backward(), Catch::Contains("already freed"));
  CHECK_THROWS_WITH(mul(a, a).backward(), Catch::Contains("needs a scalar"));
  Tensor c = Tensor::from_vector<float>(Shape{1}, {1});
  CHECK_THROWS_WITH(c.backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("NoGradGuard and detach stop recording", "[autograd]") {
  Tensor a = leaf({1, 2});
  {
    NoGradGuard g;
    CHECK_FALSE(mul(a, a).requires_grad());
  }
  CHECK(mul(a, a).requires_grad());
  Tensor d = mul(a, a).detach();
  CHECK_FALSE(d.requires_grad());
  sum(mul(d, a)).backward();  // d is a constant here: grad = d = a^2
  CHECK(a.grad().to_vector<float>() == std::vector<float>{1, 4});
}

TEST_CASE("a long chain backpropagates without recursion", "[autograd]") {
  Tensor a = leaf({1});
  Tensor y = a;
  for (int i = 0; i < 20000; ++i) y = scale(y, 1.0f);
  sum(y).backward();
  CHECK(a.grad().item() == 1.0f);
}

TEST_CASE("the graph keeps only what backward needs", "[autograd]") {
  // relu saves its output, not its input: the input of relu, a temporary, is freed after forward.
  Tensor a = leaf(std::vector<float>(1 << 16, 1.0f)), b = leaf(std::vector<float>(1 << 16, -2.0f));
  int64_t before = memory_stats(Device::cpu()).current;
  Tensor y = relu(add(a, b));  // add's output (256 KiB) dies here
  int64_t held = memory_stats(Device::cpu()).current - before;
  CHECK(held == int64_t(y.nbytes()));
  sum(y).backward();
  CHECK(a.grad().to_vector<float>()[0] == 0.0f);  // relu(-1) = 0 blocks the gradient
}
