// The ops the model zoo added (ReLU6, option-A shortcut, adaptive average pooling) on closed-form
// values, and the direct depthwise CPU kernels against the im2col + GEMM path they replace.
// Gradients are checked by finite differences in the op table (apps/bench/op_cases.cpp).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

#include "core/cpu/conv_impl.h"
#include "core/ops/ops.h"
#include "test/support/fixtures.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

using test::randn;

}  // namespace

TEST_CASE("relu6 clamps to [0, 6] and passes the gradient strictly inside", "[models][ops]") {
  Tensor x = Tensor::from_vector(Shape{6}, std::vector<float>{-2.0f, 0.0f, 0.5f, 5.5f, 6.0f, 9.0f});
  x.set_requires_grad(true);
  Tensor y = relu6(x);
  CHECK(y.to_vector<float>() == std::vector<float>{0.0f, 0.0f, 0.5f, 5.5f, 6.0f, 6.0f});
  sum(y).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f});
}

TEST_CASE("shortcut_a subsamples with stride and pads zero channels around", "[models][ops]") {
  // x [1, 2, 3, 3] = 0..17; stride 2 keeps rows/cols 0 and 2; 1 zero channel in front, 1 behind.
  std::vector<float> v(18);
  for (int i = 0; i < 18; ++i) v[size_t(i)] = float(i);
  Tensor x = Tensor::from_vector(Shape{1, 2, 3, 3}, v);
  x.set_requires_grad(true);
  Tensor y = shortcut_a(x, 2, 1, 4);
  CHECK(y.shape() == Shape{1, 4, 2, 2});
  CHECK(y.to_vector<float>() ==
        std::vector<float>{0, 0, 0, 0, /**/ 0, 2, 6, 8, /**/ 9, 11, 15, 17, /**/ 0, 0, 0, 0});
  Tensor r = Tensor::from_vector(Shape{1, 4, 2, 2}, std::vector<float>{1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1});
  sum(mul(y, r)).backward();
  CHECK(x.grad().to_vector<float>() ==
        std::vector<float>{1, 0, 2, 0, 0, 0, 3, 0, 4, /**/ 5, 0, 6, 0, 0, 0, 7, 0, 8});
  CHECK_THROWS_AS(shortcut_a(x, 2, 2, 3), Error);  // 2 + 2 channels do not fit in 3
}

TEST_CASE("adaptive_avg_pool2d uses PyTorch's overlapping windows", "[models][ops]") {
  // One row of 5 -> 3: windows [0, 2), [1, 4), [3, 5).
  Tensor x = Tensor::from_vector(Shape{1, 1, 1, 5}, std::vector<float>{1, 2, 3, 4, 5});
  x.set_requires_grad(true);
  Tensor y = adaptive_avg_pool2d(x, 1, 3);
  std::vector<float> got = y.to_vector<float>();
  CHECK(got[0] == Approx(1.5f));
  CHECK(got[1] == Approx(3.0f));
  CHECK(got[2] == Approx(4.5f));
  sum(y).backward();
  std::vector<float> g = x.grad().to_vector<float>();
  std::vector<float> want{0.5f, 0.5f + 1.0f / 3, 1.0f / 3, 1.0f / 3 + 0.5f, 0.5f};
  for (size_t i = 0; i < 5; ++i) CHECK(g[i] == Approx(want[i]));
  // 1x1 -> 2x2 repeats the element.
  Tensor one = adaptive_avg_pool2d(Tensor::full(Shape{1, 1, 1, 1}, 3.0f), 2, 2);
  CHECK(one.to_vector<float>() == std::vector<float>{3, 3, 3, 3});
}

TEST_CASE("direct depthwise kernels agree with the im2col + GEMM path", "[models][ops][depthwise]") {
  Generator gen(7);
  struct Geo {
    Shape x;
    int k, s, p, d;
  };
  for (Geo c : {Geo{Shape{2, 8, 9, 11}, 3, 1, 1, 1}, Geo{Shape{3, 5, 12, 12}, 3, 2, 1, 1}, Geo{Shape{1, 4, 7, 6}, 5, 1, 2, 2},
                Geo{Shape{2, 3, 6, 9}, 3, 2, 0, 1}, Geo{Shape{1, 2, 2, 2}, 3, 1, 1, 1}}) {
    int64_t C = c.x[1];
    Conv2dParams p{c.s, c.s, c.p, c.p, c.d, c.d, int(C)};
    INFO("x " << c.x.str() << " k" << c.k << " s" << c.s << " p" << c.p << " d" << c.d);
    Tensor x = randn(c.x, gen), w = randn(Shape{C, 1, c.k, c.k}, gen);
    REQUIRE(cpu::is_depthwise(x.shape(), w.shape(), p));
    int64_t ho = window_out(c.x[2], c.k, c.s, c.p, c.d), wo = window_out(c.x[3], c.k, c.s, c.p, c.d);
    Tensor y1 = Tensor::empty(Shape{c.x[0], C, ho, wo}), y2 = Tensor::empty(y1.shape());
    cpu::depthwise_conv2d_forward(x, w, y1, p);
    cpu::gemm_conv2d_forward(x, w, Tensor(), y2, p);
    CHECK(test::rel_l2(y1.to_vector<float>(), y2.to_vector<float>()) < 1e-6);

    Tensor gy = randn(y1.shape(), gen);
    Tensor gx1 = Tensor::full(x.shape(), 5.0f), gx2 = Tensor::empty(x.shape());  // gx1: overwritten, not added to
    cpu::depthwise_conv2d_backward_data(gy, w, gx1, p);
    cpu::gemm_conv2d_backward_data(gy, w, gx2, p);
    CHECK(test::rel_l2(gx1.to_vector<float>(), gx2.to_vector<float>()) < 1e-6);

    for (float beta : {0.0f, 1.0f}) {
      Tensor gw1 = Tensor::full(w.shape(), 0.25f), gw2 = Tensor::full(w.shape(), 0.25f);
      cpu::depthwise_conv2d_backward_filter(x, gy, gw1, p, beta);
      cpu::gemm_conv2d_backward_filter(x, gy, gw2, p, beta);
      CHECK(test::rel_l2(gw1.to_vector<float>(), gw2.to_vector<float>()) < 1e-5);
    }
  }
}

// Not run by default: trim_tests "[.depthwise-bench]" -s prints forward + backward times of
// MobileNet-V2's depthwise layers (batch 32) for both CPU paths.
TEST_CASE("depthwise benchmark: direct kernel vs per-group GEMM", "[.depthwise-bench]") {
  Generator gen(1);
  struct L {
    int64_t c, hw;
    int s;
  };
  double total[2] = {0, 0};
  for (L l : {L{96, 112, 2}, L{144, 56, 1}, L{192, 28, 1}, L{384, 14, 1}, L{960, 7, 1}}) {
    Conv2dParams p{l.s, l.s, 1, 1, 1, 1, int(l.c)};
    Tensor x = randn(Shape{32, l.c, l.hw, l.hw}, gen), w = randn(Shape{l.c, 1, 3, 3}, gen);
    int64_t ho = window_out(l.hw, 3, l.s, 1);
    Tensor y = Tensor::empty(Shape{32, l.c, ho, ho}), gx = Tensor::empty(x.shape()), gw = Tensor::empty(w.shape());
    double ms[2];
    for (int path = 0; path < 2; ++path) {
      auto run = [&] {
        if (path == 0) {
          cpu::depthwise_conv2d_forward(x, w, y, p);
          cpu::depthwise_conv2d_backward_data(y, w, gx, p);
          cpu::depthwise_conv2d_backward_filter(x, y, gw, p, 0.0f);
        } else {
          cpu::gemm_conv2d_forward(x, w, Tensor(), y, p);
          cpu::gemm_conv2d_backward_data(y, w, gx, p);
          cpu::gemm_conv2d_backward_filter(x, y, gw, p, 0.0f);
        }
      };
      run();
      auto t0 = std::chrono::steady_clock::now();
      const int reps = 3;
      for (int r = 0; r < reps; ++r) run();
      ms[path] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
      total[path] += ms[path];
    }
    std::printf("depthwise 32x%lldx%lldx%lld s%d: direct %.2f ms, per-group GEMM %.2f ms (%.1fx)\n", (long long)l.c,
                (long long)l.hw, (long long)l.hw, l.s, ms[0], ms[1], ms[1] / ms[0]);
  }
  std::printf("depthwise total: direct %.2f ms, per-group GEMM %.2f ms (%.1fx)\n", total[0], total[1], total[1] / total[0]);
  CHECK(total[0] > 0.0);
}
