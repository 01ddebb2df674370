// The oneDNN convolution path (core/cpu/conv_onednn.cpp) against im2col + GEMM on geometries that
// exercise its padding rule, groups, strides, dilation and odd sizes, with beta = 0 (output not
// read: it starts as NaN) and beta = 1 (accumulates into the old gradient); and the backend switch.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/cpu/conv_backend.h"
#include "core/cpu/conv_impl.h"
#include "core/ops/ops.h"
#include "core/threads.h"
#include "test/support/conv_backend_guard.h"
#include "test/support/fixtures.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

using test::randn;

struct Geo {
  Shape x;
  int64_t out;
  int kh, kw;
  Conv2dParams p;
};

std::vector<Geo> geometries() {
  return {
      {Shape{2, 3, 7, 9}, 4, 3, 3, {1, 1, 1, 1, 1, 1, 1}},          // 3x3 same padding
      {Shape{2, 16, 8, 8}, 32, 3, 3, {2, 2, 1, 1, 1, 1, 1}},        // strided: right padding 0, left 1
      {Shape{3, 5, 4, 3}, 6, 1, 1, {1, 1, 0, 0, 1, 1, 1}},          // 1x1
      {Shape{2, 8, 9, 7}, 12, 1, 1, {2, 2, 0, 0, 1, 1, 1}},         // strided 1x1 (ResNet downsample)
      {Shape{2, 4, 5, 6}, 6, 3, 3, {1, 1, 1, 1, 1, 1, 2}},          // groups 2
      {Shape{1, 6, 9, 9}, 9, 3, 3, {2, 2, 1, 1, 1, 1, 3}},          // groups 3, strided
      {Shape{1, 2, 8, 9}, 2, 3, 3, {1, 1, 2, 2, 2, 2, 1}},          // dilation 2
      {Shape{2, 3, 11, 10}, 5, 3, 3, {1, 1, 3, 1, 3, 1, 1}},        // dilation (3, 1), padding (3, 1)
      {Shape{1, 3, 15, 13}, 4, 7, 7, {2, 2, 3, 3, 1, 1, 1}},        // 7x7 stem, odd sizes
      {Shape{2, 2, 7, 6}, 3, 3, 3, {2, 1, 1, 0, 1, 1, 1}},          // stride (2, 1), padding (1, 0)
      {Shape{1, 1, 6, 6}, 2, 5, 5, {1, 1, 2, 2, 1, 1, 1}},          // 5x5, one input channel
      {Shape{3, 17, 5, 5}, 33, 3, 3, {1, 1, 0, 0, 1, 1, 1}},        // no padding, channels not a multiple of 16
      {Shape{1, 3, 2, 2}, 5, 3, 3, {1, 1, 1, 1, 1, 1, 1}},          // kernel larger than the image
      {Shape{4, 64, 7, 7}, 128, 3, 3, {2, 2, 1, 1, 1, 1, 1}},       // blocked layouts, odd output 4x4
      {Shape{2, 32, 6, 5}, 16, 2, 3, {3, 2, 0, 1, 1, 1, 1}},        // non-square kernel, stride 3
  };
}

}  // namespace

TEST_CASE("oneDNN convolutions agree with im2col + GEMM, beta accumulation included", "[ops][conv][onednn]") {
  if (!cpu::have_onednn()) {
    WARN("this build has no oneDNN; nothing to compare");
    return;
  }
  Generator gen(11);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const Geo& c : geometries()) {
    const Conv2dParams& p = c.p;
    INFO("x " << c.x.str() << " o" << c.out << " k" << c.kh << "x" << c.kw << " s" << p.stride_h << "," << p.stride_w
              << " p" << p.pad_h << "," << p.pad_w << " d" << p.dil_h << "," << p.dil_w << " g" << p.groups);
    Tensor x = randn(c.x, gen), w = randn(Shape{c.out, c.x[1] / p.groups, c.kh, c.kw}, gen);
    REQUIRE_FALSE(cpu::is_depthwise(x.shape(), w.shape(), p));
    const int64_t ho = window_out(c.x[2], c.kh, p.stride_h, p.pad_h, p.dil_h);
    const int64_t wo = window_out(c.x[3], c.kw, p.stride_w, p.pad_w, p.dil_w);
    REQUIRE((ho > 0 && wo > 0));
    Tensor y1 = Tensor::full(Shape{c.x[0], c.out, ho, wo}, nan), y2 = Tensor::empty(y1.shape());
    cpu::onednn_conv2d_forward(x, w, Tensor(), y1, p);
    cpu::gemm_conv2d_forward(x, w, Tensor(), y2, p);
    CHECK(test::rel_l2(y1.to_vector<float>(), y2.to_vector<float>()) < 1e-5);

    Tensor gy = randn(y1.shape(), gen);
    Tensor gx1 = Tensor::full(x.shape(), nan), gx2 = Tensor::empty(x.shape());  // gx1: overwritten, not read
    cpu::onednn_conv2d_backward_data(gy, w, gx1, p);
    cpu::gemm_conv2d_backward_data(gy, w, gx2, p);
    CHECK(test::rel_l2(gx1.to_vector<float>(), gx2.to_vector<float>()) < 1e-5);

    for (float beta : {0.0f, 1.0f}) {
      INFO("beta " << beta);
      Tensor old = randn(w.shape(), gen);
      Tensor gw1 = beta == 0.0f ? Tensor::full(w.shape(), nan) : old.clone(), gw2 = old.clone();
      cpu::onednn_conv2d_backward_filter(x, gy, gw1, p, beta);
      cpu::gemm_conv2d_backward_filter(x, gy, gw2, p, beta);
      CHECK(test::rel_l2(gw1.to_vector<float>(), gw2.to_vector<float>()) < 1e-5);
      if (beta == 1.0f) {  // the accumulated part really is the old gradient
        Tensor fresh = Tensor::empty(w.shape());
        cpu::onednn_conv2d_backward_filter(x, gy, fresh, p, 0.0f);
        CHECK(test::rel_l2(gw1.to_vector<float>(), add(old, fresh).to_vector<float>()) < 1e-6);
      }
    }
  }
}

TEST_CASE("oneDNN convolutions follow a change of the thread count", "[ops][conv][onednn]") {
  if (!cpu::have_onednn()) {
    WARN("this build has no oneDNN; nothing to compare");
    return;
  }
  Generator gen(3);
  Tensor x = randn(Shape{4, 16, 10, 10}, gen), w = randn(Shape{24, 16, 3, 3}, gen);
  Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  Tensor want = Tensor::empty(Shape{4, 24, 10, 10});
  cpu::gemm_conv2d_forward(x, w, Tensor(), want, p);
  const int before = num_threads();
  for (int n : {1, 2, 1}) {
    set_num_threads(n);
    Tensor y = Tensor::empty(want.shape());
    cpu::onednn_conv2d_forward(x, w, Tensor(), y, p);
    CHECK(test::rel_l2(y.to_vector<float>(), want.to_vector<float>()) < 1e-5);
  }
  set_num_threads(before);
}

TEST_CASE("the CPU convolution backend switch routes conv2d", "[ops][conv][onednn]") {
  Generator gen(5);
  Tensor x = randn(Shape{2, 4, 6, 6}, gen), w = randn(Shape{8, 4, 3, 3}, gen);
  Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  std::vector<std::vector<float>> outs;
  for (cpu::ConvBackend b : test::conv_backends()) {
    test::ConvBackendGuard guard(b);
    CHECK(cpu::conv_backend() == b);
    outs.push_back(conv2d(x, w, Tensor(), p).to_vector<float>());
  }
  for (const auto& o : outs) CHECK(test::rel_l2(o, outs[0]) < 1e-5);
  if (!cpu::have_onednn()) CHECK_THROWS_WITH(cpu::set_conv_backend(cpu::ConvBackend::onednn),
                                             Catch::Contains("without oneDNN") || Catch::Contains("no oneDNN"));
  CHECK(std::string(cpu::conv_backend_name(cpu::ConvBackend::onednn)) == "onednn");
}
