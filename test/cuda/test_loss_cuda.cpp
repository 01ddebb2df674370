// Cross-entropy on the GPU against the CPU for logits up to the float range (the stable
// log-sum-exp of core/kernels/loss_math.h): both row kernels, the per-thread one (few classes) and
// the warp-per-row one (32 classes or more).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "core/ops/loss.h"

using namespace trim;

namespace {

// Rows of `classes` logits: a huge shared offset (a head bias of 3e38), logits of both signs near
// the float range, and ordinary ones; every label and smoothing 0 and 0.1.
void compare(int64_t classes) {
  const int64_t rows = 4;
  std::vector<float> z(size_t(rows * classes));
  std::vector<int32_t> y(static_cast<size_t>(rows));
  for (int64_t c = 0; c < classes; ++c) {
    z[size_t(c)] = 3e38f;                                        // all equal: the loss is ln C
    z[size_t(classes + c)] = c == 1 ? 3e38f : -3e38f;            // m - z overflows for q = 0 classes
    z[size_t(2 * classes + c)] = float(c % 5) * 0.25f - 0.5f;    // ordinary
    z[size_t(3 * classes + c)] = 1e30f + float(c) * 1e23f;       // large, apart by more than an ulp
  }
  for (int64_t r = 0; r < rows; ++r) y[size_t(r)] = int32_t(r % 2);
  for (float eps : {0.0f, 0.1f}) {
    // Row by row, so that one infinite row does not hide the others.
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> row(z.begin() + r * classes, z.begin() + (r + 1) * classes);
      Tensor zr = Tensor::from_vector(Shape{1, classes}, row);
      Tensor yr = Tensor::from_vector(Shape{1}, std::vector<int32_t>{y[size_t(r)]});
      const float cpu = cross_entropy(zr, yr, eps).item();
      const float gpu = cross_entropy(zr.to(Device::cuda(0)), yr.to(Device::cuda(0)), eps).item();
      INFO("classes " << classes << ", row " << r << ", smoothing " << eps << ": cpu " << cpu << ", gpu " << gpu);
      if (std::isinf(cpu)) CHECK(std::isinf(gpu));
      else CHECK(gpu == Approx(cpu).epsilon(1e-5).margin(1e-6));
      // Sum of C float terms q ln C: 2.6e-6 relative from ln C at 100 classes with smoothing.
      if (r == 0) CHECK(cpu == Approx(std::log(float(classes))).epsilon(1e-5));
    }
  }
}

}  // namespace

TEST_CASE("cross-entropy agrees with the CPU for logits up to the float range", "[cuda]") {
  compare(3);    // the per-thread row kernel
  compare(100);  // the warp-per-row kernel
}
