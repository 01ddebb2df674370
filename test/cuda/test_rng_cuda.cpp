// The counter-based generator gives the same numbers on the CPU and on CUDA for the same seed.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/ops/elementwise.h"

using namespace trim;

TEST_CASE("uniform, Bernoulli and dropout draws are bit-identical on CPU and CUDA", "[cuda][rng]") {
  const int64_t n = 100003;
  Generator gc(11), gg(11);
  Tensor uc = Tensor::empty(Shape{n}), ug = Tensor::empty(Shape{n}, DType::f32, Device::cuda(0));
  uniform_(uc, -2.0f, 5.0f, gc);
  uniform_(ug, -2.0f, 5.0f, gg);
  CHECK(ug.to_vector<float>() == uc.to_vector<float>());
  Tensor bc = Tensor::empty(Shape{n}), bg = Tensor::empty(Shape{n}, DType::f32, Device::cuda(0));
  bernoulli_(bc, 0.3f, gc);
  bernoulli_(bg, 0.3f, gg);
  CHECK(bg.to_vector<float>() == bc.to_vector<float>());
  Tensor x = Tensor::full(Shape{n}, 1.0f);
  Tensor dc = dropout(x, 0.4f, true, gc), dg = dropout(x.to(Device::cuda(0)), 0.4f, true, gg);
  CHECK(dg.to_vector<float>() == dc.to_vector<float>());
  CHECK(gc.offset() == gg.offset());
}

TEST_CASE("normal draws agree between CPU and CUDA to the last bit but for rare ties", "[cuda][rng]") {
  const int64_t n = 100003;
  Generator gc(12), gg(12);
  Tensor zc = Tensor::empty(Shape{n}), zg = Tensor::empty(Shape{n}, DType::f32, Device::cuda(0));
  normal_(zc, 0.0f, 1.0f, gc);
  normal_(zg, 0.0f, 1.0f, gg);
  auto a = zc.to_vector<float>(), b = zg.to_vector<float>();
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE(std::fabs(a[size_t(i)] - b[size_t(i)]) <= 1e-6f * (1.0f + std::fabs(a[size_t(i)])));
    differ += a[size_t(i)] != b[size_t(i)];
  }
  CHECK(differ <= n / 1000);  // computed in double and rounded once: differences are rounding ties
}
