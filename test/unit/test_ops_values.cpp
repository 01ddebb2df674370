// Closed-form values of the ops (the CPU backend is the oracle for CUDA, so it is checked here).
#include <catch2/catch.hpp>

#include <cmath>

#include "core/ops/ops.h"
#include "core/random/philox.h"

using namespace trim;

namespace {

std::vector<float> randn(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = philox::normal(seed, 0, i);
  return v;
}

// Direct-definition convolution in double.
std::vector<double> naive_conv(const std::vector<float>& x, Shape xs, const std::vector<float>& w, Shape ws,
                               const Conv2dParams& p, int64_t ho, int64_t wo) {
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], Cg = ws[1], kh = ws[2], kw = ws[3];
  int64_t Og = O / p.groups;
  std::vector<double> y(size_t(N * O * ho * wo), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j) {
          double s = 0;
          int64_t g = o / Og;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t b = 0; b < kw; ++b) {
                int64_t ih = i * p.stride_h - p.pad_h + a * p.dil_h, iw = j * p.stride_w - p.pad_w + b * p.dil_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += double(x[size_t(((n * C + g * Cg + c) * H + ih) * W + iw)]) *
                     double(w[size_t(((o * Cg + c) * kh + a) * kw + b)]);
              }
          y[size_t(((n * O + o) * ho + i) * wo + j)] = s;
        }
  return y;
}

}  // namespace

TEST_CASE("conv2d equals the direct definition", "[ops][conv]") {
  struct Case {
    Shape x, w;
    Conv2dParams p;
  };
  for (const Case& c : {Case{Shape{2, 3, 9, 8}, Shape{5, 3, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
                        Case{Shape{3, 4, 11, 7}, Shape{6, 2, 3, 3}, {2, 1, 1, 2, 1, 1, 2}},
                        Case{Shape{1, 4, 9, 9}, Shape{4, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 4}},
                        Case{Shape{2, 2, 10, 10}, Shape{3, 2, 3, 3}, {1, 1, 2, 2, 2, 2, 1}},
                        Case{Shape{2, 8, 5, 6}, Shape{4, 8, 1, 1}, {1, 1, 0, 0, 1, 1, 1}},
                        Case{Shape{1, 3, 13, 12}, Shape{2, 3, 7, 7}, {2, 2, 3, 3, 1, 1, 1}}}) {
    auto xv = randn(c.x.numel(), 1), wv = randn(c.w.numel(), 2);
    Tensor y = conv2d(Tensor::from_vector(c.x, xv), Tensor::from_vector(c.w, wv), Tensor(), c.p);
    auto ref = naive_conv(xv, c.x, wv, c.w, c.p, y.size(2), y.size(3));
    auto got = y.to_vector<float>();
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < ref.size(); ++i) REQUIRE(got[i] == Approx(ref[i]).margin(1e-4));
  }
}

TEST_CASE("batch norm normalises per channel and updates running statistics like PyTorch", "[ops][bn]") {
  Shape xs{4, 2, 3, 3};
  auto xv = randn(xs.numel(), 3);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = 3.0f * xv[i] + 1.0f;
  Tensor x = Tensor::from_vector(xs, xv);
  Tensor gamma = Tensor::from_vector<float>(Shape{2}, {2.0f, 0.5f}), beta = Tensor::from_vector<float>(Shape{2}, {1.0f, -1.0f});
  Tensor rm = Tensor::from_vector<float>(Shape{2}, {0.5f, 0.0f}), rv = Tensor::from_vector<float>(Shape{2}, {1.0f, 2.0f});
  Tensor y = batch_norm(x, gamma, beta, rm, rv, true, 0.1f, 1e-5f);
  auto yv = y.to_vector<float>();
  for (int c = 0; c < 2; ++c) {
    double m = 0, v = 0, ym = 0, yv2 = 0;
    int n = 0;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 9; ++j) {
        size_t k = size_t((i * 2 + c) * 9 + j);
        m += xv[k], ym += yv[k], ++n;
      }
    m /= n, ym /= n;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 9; ++j) {
        size_t k = size_t((i * 2 + c) * 9 + j);
        v += (xv[k] - m) * (xv[k] - m), yv2 += (yv[k] - ym) * (yv[k] - ym);
      }
    double g = c == 0 ? 2.0 : 0.5, b = c == 0 ? 1.0 : -1.0;
    CHECK(ym == Approx(b).margin(1e-5));
    CHECK(std::sqrt(yv2 / n) == Approx(g * std::sqrt(v / n / (v / n + 1e-5))).epsilon(1e-5));
    double rm0 = c == 0 ? 0.5 : 0.0, rv0 = c == 0 ? 1.0 : 2.0;
    CHECK(rm.to_vector<float>()[size_t(c)] == Approx(0.9 * rm0 + 0.1 * m).epsilon(1e-5));
    CHECK(rv.to_vector<float>()[size_t(c)] == Approx(0.9 * rv0 + 0.1 * v / (n - 1)).epsilon(1e-5));
  }
  // Evaluation mode uses the running statistics.
  Tensor ye = batch_norm(x, gamma, beta, rm, rv, false);
  float r0 = rm.to_vector<float>()[0], v0 = rv.to_vector<float>()[0];
  CHECK(ye.to_vector<float>()[0] == Approx((xv[0] - r0) / std::sqrt(v0 + 1e-5) * 2.0 + 1.0).epsilon(1e-5));
}

TEST_CASE("pooling values: max ignores padding, average counts it", "[ops][pool]") {
  Tensor x = Tensor::from_vector<float>(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(max_pool2d(x, {2, 2, 1, 1, 0, 0}).to_vector<float>() == std::vector<float>{5, 6, 8, 9});
  CHECK(max_pool2d(x, {3, 3, 2, 2, 1, 1}).to_vector<float>() == std::vector<float>{5, 6, 8, 9});
  auto avg = avg_pool2d(x, {3, 3, 2, 2, 1, 1}).to_vector<float>();
  CHECK(avg[0] == Approx((1 + 2 + 4 + 5) / 9.0));
  CHECK(avg[3] == Approx((5 + 6 + 8 + 9) / 9.0));
  Tensor neg = Tensor::from_vector<float>(Shape{1, 1, 2, 2}, {-5, -6, -7, -8});
  CHECK(max_pool2d(neg, {2, 2, 2, 2, 1, 1}).to_vector<float>() == std::vector<float>{-5, -6, -7, -8});
  CHECK(global_avg_pool(x).to_vector<float>() == std::vector<float>{5});
}

TEST_CASE("cross-entropy with and without label smoothing", "[ops][loss]") {
  Tensor z = Tensor::from_vector<float>(Shape{2, 2}, {0, 0, 1, 3});
  Tensor y = Tensor::from_vector<int32_t>(Shape{2}, {0, 1});
  double l1 = std::log(2.0), l2 = std::log(std::exp(1.0) + std::exp(3.0)) - 3.0;
  CHECK(cross_entropy(z, y).item() == Approx((l1 + l2) / 2).epsilon(1e-6));
  // eps = 0.2, C = 2: targets 0.9 / 0.1; loss = sum_c q_c (lse - z_c)
  double lse2 = std::log(std::exp(1.0) + std::exp(3.0));
  double s2 = 0.1 * (lse2 - 1.0) + 0.9 * (lse2 - 3.0), s1 = std::log(2.0);
  CHECK(cross_entropy(z, y, 0.2f).item() == Approx((s1 + s2) / 2).epsilon(1e-6));
  Tensor counter = Tensor::zeros(Shape{}, DType::i32);
  Tensor ties = Tensor::from_vector<float>(Shape{3, 3}, {1, 1, 0, 0, 2, 2, 3, 1, 3});
  count_correct(ties, Tensor::from_vector<int32_t>(Shape{3}, {0, 2, 0}), counter);
  CHECK(counter.item() == 2.0f);  // rows pick their first maximum: 0, 1, 0
  Tensor bad = Tensor::from_vector<int32_t>(Shape{2}, {0, 7});
  CHECK(std::isnan(cross_entropy(z, bad).item()));
}

TEST_CASE("linear, matmul, sums and the u8 image affine", "[ops]") {
  Tensor x = Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = Tensor::from_vector<float>(Shape{2, 3}, {1, 0, -1, 0.5f, 0.5f, 0.5f});
  Tensor b = Tensor::from_vector<float>(Shape{2}, {10, 20});
  CHECK(linear(x, w, b).to_vector<float>() == std::vector<float>{8, 23, 8, 27.5f});
  Tensor m = Tensor::from_vector<float>(Shape{3, 1}, {1, 1, 1});
  CHECK(matmul(x, m).to_vector<float>() == std::vector<float>{6, 15});
  CHECK(sum(x).item() == 21.0f);
  CHECK(mean(x).item() == 3.5f);
  Tensor img = Tensor::from_vector<uint8_t>(Shape{1, 2, 1, 2}, {0, 255, 51, 102});
  ChannelAffine a;
  a.channels = 2;
  a.scale[0] = 1.0f / 255, a.shift[0] = 0;
  a.scale[1] = 2, a.shift[1] = -1;
  CHECK(affine_u8(img, a).to_vector<float>() == std::vector<float>{0, 1, 101, 203});
}

TEST_CASE("dropout keeps 1 - p of the elements, scaled, and is the identity in evaluation", "[ops][dropout]") {
  Tensor x = Tensor::full(Shape{100000}, 2.0f);
  Generator g(9);
  auto y = dropout(x, 0.25f, true, g).to_vector<float>();
  int64_t kept = 0;
  for (float v : y) {
    REQUIRE((v == 0.0f || v == Approx(2.0f / 0.75f)));
    kept += v != 0.0f;
  }
  CHECK(double(kept) / 100000 == Approx(0.75).margin(0.005));
  CHECK(dropout(x, 0.25f, false).to_vector<float>() == x.to_vector<float>());
}

TEST_CASE("ops refuse mismatched inputs with messages naming the op", "[ops]") {
  Tensor a = Tensor::zeros(Shape{2, 3}), b = Tensor::zeros(Shape{3, 2});
  CHECK_THROWS_WITH(add(a, b), Catch::Contains("add") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(linear(a, b), Catch::Contains("linear: input [2, 3] does not match weight [3, 2]"));
  CHECK_THROWS_WITH(conv2d(Tensor::zeros(Shape{1, 3, 4, 4}), Tensor::zeros(Shape{2, 2, 3, 3}), Tensor(), {}),
                    Catch::Contains("groups"));
  CHECK_THROWS_WITH(max_pool2d(Tensor::zeros(Shape{1, 1, 4, 4}), {2, 2, 2, 2, 2, 2}), Catch::Contains("padding"));
  CHECK_THROWS_WITH(cross_entropy(a, Tensor::zeros(Shape{2}, DType::f32)), Catch::Contains("labels must be i32"));
}
