// The accumulating kernels on the CPU: beta = 1 adds the fresh result to what the buffer held;
// beta = 0 never reads the buffer (it starts as NaN here).
#include <catch2/catch.hpp>

#include <cmath>

#include "test/support/gradcheck.h"
#include "core/kernels/kernels.h"
#include "test/support/kernel_beta.h"

using namespace trim;
using namespace trim::test;

TEST_CASE("beta = 1 accumulates onto the old gradient, beta = 0 ignores it", "[kernels][beta]") {
  std::vector<BetaOutput> fresh = run_beta_kernels(Device::cpu(), 0.0f);
  std::vector<BetaOutput> acc = run_beta_kernels(Device::cpu(), 1.0f);
  REQUIRE(fresh.size() == acc.size());
  for (size_t k = 0; k < fresh.size(); ++k) {
    INFO(acc[k].name);
    const auto& f = fresh[k].after;
    REQUIRE(f.size() == acc[k].before.size());
    bool finite = true;
    for (float v : f) finite = finite && std::isfinite(v);
    CHECK(finite);
    bool overwrites = acc[k].name.find(" gx ") != std::string::npos;
    std::vector<float> expect(f.size());
    for (size_t i = 0; i < f.size(); ++i) expect[i] = overwrites ? f[i] : acc[k].before[i] + f[i];
    if (!overwrites) CHECK(rel_l2(acc[k].before, expect) > 1e-2);  // the old content matters
    CHECK(mismatch(acc[k].after, expect, 1e-5, 1e-5) <= 1.0);
  }
}

TEST_CASE("bias_grad of an empty batch or no channels", "[kernels][beta]") {
  Tensor gy = Tensor::empty(Shape{0, 5, 3});
  Tensor gb = Tensor::full(Shape{5}, NAN);
  cpu::bias_grad(gy, 3, gb, 0.0f);
  CHECK(gb.to_vector<float>() == std::vector<float>(5, 0.0f));
  Tensor old = Tensor::from_vector(Shape{5}, std::vector<float>{1, 2, 3, 4, 5});
  cpu::bias_grad(gy, 3, old, 1.0f);
  CHECK(old.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5});
  Tensor none = Tensor::empty(Shape{0});
  cpu::bias_grad(Tensor::empty(Shape{4, 0, 3}), 3, none, 0.0f);  // nothing to do, no division by zero
  CHECK(none.numel() == 0);
}
