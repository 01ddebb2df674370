// spiking/README.md test oracle 1.
#include <catch2/catch.hpp>

#include "spiking/surrogate.h"

using namespace trim::surrogate;

TEST_CASE("surrogate gradients match the spec's values", "[spiking]") {
  Sigmoid s;
  ATan a;
  CHECK(s.grad(0.0f) == Approx(1.0f));
  CHECK(a.grad(0.0f) == Approx(1.0f));
  CHECK(s.grad(0.5f) == Approx(0.4199743f).epsilon(1e-6));
  CHECK(s.grad(-0.5f) == Approx(0.4199743f).epsilon(1e-6));
  CHECK(a.grad(0.5f) == Approx(0.2884004f).epsilon(1e-6));
  CHECK(a.grad(-0.5f) == Approx(0.2884004f).epsilon(1e-6));
  CHECK(s.g(0.5f) == Approx(0.8807971f).epsilon(1e-6));
  CHECK(a.g(0.5f) == Approx(0.8195465f).epsilon(1e-6));
  CHECK(heaviside(0.0f) == 1.0f);
  CHECK(heaviside(-1e-7f) == 0.0f);
}
