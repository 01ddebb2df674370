// The CPU speed paths give the results of the plain ones bit for bit: fused batch norm + ReLU
// against the two ops (values, all three gradients, running statistics, gradient accumulation),
// the models' use of it, and the row-wise max-pool kernel against the per-output rule
// (pool::MaxForward) on shapes that reach its edges, blocks, ties and NaNs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/kernels/kernels.h"
#include "core/kernels/pool_math.h"
#include "core/ops/ops.h"
#include "core/random/philox.h"
#include "layers/layers.h"

using namespace trim;

namespace {

std::vector<float> randn(int64_t n, uint64_t seed, float shift = 0.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = philox::normal(seed, 0, i) + shift;
  return v;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::memcmp(&x[i], &y[i], sizeof(float)) != 0) return false;
  return true;
}

struct BnRun {
  Tensor y, gx, ggamma, gbeta, running_mean, running_var;
};

// One training forward and backward (twice with `twice`: the second backward accumulates into the
// parameters' gradients), fused or as batch norm then ReLU.
BnRun run_bn(const Shape& s, bool fused, bool twice) {
  int64_t c = s[1];
  Tensor x = Tensor::from_vector(s, randn(s.numel(), 11, 0.3f)).set_requires_grad(true);
  Tensor gamma = Tensor::from_vector(Shape{c}, randn(c, 12, 1.0f)).set_requires_grad(true);
  Tensor beta = Tensor::from_vector(Shape{c}, randn(c, 13)).set_requires_grad(true);
  Tensor rm = Tensor::from_vector(Shape{c}, randn(c, 14)), rv = Tensor::full(Shape{c}, 1.5f);
  Tensor w = Tensor::from_vector(s, randn(s.numel(), 15));  // the loss is sum(w * y)
  Tensor y;
  for (int k = 0; k < (twice ? 2 : 1); ++k) {
    y = fused ? batch_norm_relu(x, gamma, beta, rm, rv, true) : relu(batch_norm(x, gamma, beta, rm, rv, true));
    sum(mul(y, w)).backward();
  }
  return {y, x.grad(), gamma.grad(), beta.grad(), rm, rv};
}

}  // namespace

TEST_CASE("batch_norm_relu equals relu(batch_norm) bit for bit in training", "[ops][batch_norm][fused]") {
  for (Shape s : {Shape{4, 3, 5, 7}, Shape{2, 5, 33, 17}, Shape{9, 6}, Shape{1, 2, 1, 3}}) {
    for (bool twice : {false, true}) {
      INFO(s.str() << (twice ? " accumulating" : ""));
      BnRun a = run_bn(s, true, twice), b = run_bn(s, false, twice);
      // A real mix of both sides of the kink, or the test checks nothing of the mask.
      std::vector<float> yv = a.y.to_vector<float>();
      int64_t zeros = std::count(yv.begin(), yv.end(), 0.0f);
      CHECK(zeros > 0);
      CHECK(zeros < int64_t(yv.size()));
      CHECK(same_bits(a.y, b.y));
      CHECK(same_bits(a.gx, b.gx));
      CHECK(same_bits(a.ggamma, b.ggamma));
      CHECK(same_bits(a.gbeta, b.gbeta));
      CHECK(same_bits(a.running_mean, b.running_mean));
      CHECK(same_bits(a.running_var, b.running_var));
    }
  }
}

TEST_CASE("batch_norm_relu in evaluation mode and the Sequential fusion give the unfused values",
          "[ops][batch_norm][fused][layers]") {
  Shape s{3, 4, 6, 5};
  Tensor x = Tensor::from_vector(s, randn(s.numel(), 21, 0.2f));
  auto bn = std::make_shared<BatchNorm2d>(4);
  normal_(bn->weight, 1.0f, 0.3f);
  normal_(bn->bias, 0.0f, 0.5f);
  Sequential net({bn, std::make_shared<ReLU>()});
  for (bool training : {true, false}) {
    INFO((training ? "training" : "eval"));
    net.train(training);
    Tensor rm = bn->running_mean.clone(), rv = bn->running_var.clone();
    Tensor want = relu(batch_norm(x, bn->weight, bn->bias, rm, rv, training));
    Tensor got = net(x);
    CHECK(same_bits(got, want));
    CHECK(same_bits(bn->running_mean, rm));
    CHECK(same_bits(bn->running_var, rv));
  }
  bn->folded = true;  // deployment folded the statistics into the conv before: only the ReLU is left
  CHECK(same_bits(net(x), relu(x)));
}

TEST_CASE("relu_backward passes the gradient where y > 0 only, NaN and infinities included", "[ops][relu]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // Long enough for the vector loop and its tail.
  std::vector<float> y, gy, want;
  for (int i = 0; i < 37; ++i) {
    float yi = i % 5 == 0 ? 0.0f : i % 5 == 1 ? -1.0f : i % 5 == 2 ? nan : float(i);
    float gi = i % 7 == 0 ? inf : float(i) - 10.0f;
    y.push_back(yi), gy.push_back(gi), want.push_back(yi > 0.0f ? gi : 0.0f);
  }
  Tensor ty = Tensor::from_vector(Shape{37}, y), tg = Tensor::from_vector(Shape{37}, gy), gx = Tensor::empty(Shape{37});
  cpu::relu_backward(ty, tg, gx);
  CHECK(gx.to_vector<float>() == want);
}

TEST_CASE("CPU max-pool forward equals the per-output rule on every window, ties and NaNs", "[ops][pool]") {
  struct Case {
    Shape x;
    Pool2dParams p;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // The first two take the 2x2 stride-2 plane kernel (odd sizes: the last row and column unread);
  // the next two do not: a side of one pixel clips its one window.
  for (Case c : {Case{{2, 3, 28, 28}, {2, 2, 2, 2, 0, 0}}, Case{{3, 2, 9, 131}, {2, 2, 2, 2, 0, 0}},
                 Case{{2, 3, 1, 9}, {2, 2, 2, 2, 0, 0}}, Case{{2, 3, 7, 1}, {2, 2, 2, 2, 0, 0}},
                 Case{{1, 2, 30, 301}, {3, 3, 2, 2, 1, 1}},
                 Case{{1, 2, 9, 140}, {3, 3, 1, 1, 1, 1}}, Case{{2, 1, 11, 200}, {3, 2, 3, 3, 1, 1}},
                 Case{{1, 1, 5, 5}, {5, 5, 1, 1, 2, 2}}, Case{{1, 1, 7, 3}, {2, 2, 2, 2, 1, 1}}}) {
    INFO(c.x.str() << " k" << c.p.kernel_h << "x" << c.p.kernel_w << " s" << c.p.stride_h << " p" << c.p.pad_h);
    std::vector<float> xv = randn(c.x.numel(), 31);
    for (size_t i = 0; i < xv.size(); ++i) {
      if (i % 13 == 0) xv[i] = nan;
      if (i % 5 == 0) xv[i] = 0.5f;  // ties: the first maximum wins
      if (i % 17 == 0) xv[i] = -xv[i];
    }
    Tensor x = Tensor::from_vector(c.x, xv);
    Shape ys{c.x[0], c.x[1], window_out(c.x[2], c.p.kernel_h, c.p.stride_h, c.p.pad_h),
             window_out(c.x[3], c.p.kernel_w, c.p.stride_w, c.p.pad_w)};
    Tensor y = Tensor::empty(ys), idx = Tensor::empty(ys, DType::i32);
    cpu::max_pool2d_forward(x, y, idx, c.p);
    std::vector<float> ry(size_t(ys.numel()));
    std::vector<int32_t> ri(size_t(ys.numel()));
    pool::MaxForward ref{xv.data(), ry.data(), ri.data(), {c.x[2], c.x[3], ys[2], ys[3], c.p}};
    for (int64_t pl = 0; pl < ys[0] * ys[1]; ++pl)
      for (int64_t oh = 0; oh < ys[2]; ++oh)
        for (int64_t ow = 0; ow < ys[3]; ++ow) ref(pl, oh, ow);
    CHECK(idx.to_vector<int32_t>() == ri);
    std::vector<float> got = y.to_vector<float>();
    int64_t nans = 0, bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      nans += std::isnan(ry[i]);
      bad += std::memcmp(&got[i], &ry[i], sizeof(float)) != 0;
    }
    CHECK(bad == 0);
    CHECK(nans > 0);
  }
}
