// conv2d_forward's bias and conv2d_backward (kernel_list.inc), the conv2d op's kernels, against the
// kernels they stand for: conv2d_forward without bias followed by add_bias, and
// conv2d_backward_data, conv2d_backward_filter and bias_grad, with the products on gy rounded to
// bf16 when the weight is bf16. Every CPU path is taken: oneDNN (gy reordered once for both
// products, the f32 bias summed by the weights primitive), im2col + GEMM (the bias summed in the
// image loop), the one-input-channel stem, depthwise and grouped convolutions; every subset of the
// three gradients, both betas. Outputs that beta = 0 overwrites start as NaN.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/cpu/bf16_support.h"
#include "core/cpu/conv_impl.h"
#include "core/kernels/kernels.h"
#include "core/ops/ops.h"
#include "test/support/conv_backend_guard.h"
#include "test/support/fixtures.h"
#include "test/support/gradcheck.h"
#include "test/support/kernel_call.h"

using namespace trim;

namespace {

using test::ConvCase;
using test::randn;

const ConvCase kConvCases[] = {
    {"3x3, 16 channels to 24", Shape{3, 16, 9, 8}, Shape{24, 16, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
    {"strided 1x1 downsample", Shape{2, 32, 8, 7}, Shape{48, 32, 1, 1}, {2, 2, 0, 0, 1, 1, 1}},
    {"one input channel (the stem path)", Shape{4, 1, 10, 10}, Shape{16, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
    {"one image (images not spread over threads)", Shape{1, 1, 9, 9}, Shape{16, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
    {"one image, 16 channels", Shape{1, 16, 6, 6}, Shape{16, 16, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
    {"7x7 stem, 3 channels", Shape{2, 3, 15, 13}, Shape{8, 3, 7, 7}, {2, 2, 3, 3, 1, 1, 1}},
    {"groups 2, 16 per group", Shape{2, 32, 6, 6}, Shape{32, 16, 3, 3}, {1, 1, 1, 1, 1, 1, 2}},
    {"depthwise", Shape{3, 16, 7, 7}, Shape{16, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 16}},
    {"blocked layouts, odd output", Shape{5, 64, 7, 7}, Shape{80, 64, 3, 3}, {2, 2, 1, 1, 1, 1, 1}},
};

Tensor to_bf16(const Tensor& t) {
  Tensor r = Tensor::empty(t.shape(), DType::bf16);
  cpu::cast(t, r);
  return r;
}

Tensor nans(const Shape& s) { return Tensor::full(s, std::numeric_limits<float>::quiet_NaN()); }

bool all_nan(const Tensor& t) {
  for (float v : t.to_vector<float>())
    if (!std::isnan(v)) return false;
  return true;
}

// f32: summation orders differ (oneDNN's bias primitive, the image loop's double sums).
constexpr double kTol = 1e-6;

}  // namespace

TEST_CASE("conv2d_forward adds the bias as add_bias does on every CPU path", "[ops][conv][onednn]") {
  Generator gen(21);
  for (cpu::ConvBackend backend : test::conv_backends()) {
    test::ConvBackendGuard guard(backend);
    for (const ConvCase& c : kConvCases)
      for (bool half : {false, true}) {
        INFO(cpu::conv_backend_name(backend) << ", " << c.name << (half ? ", bf16 weight" : ", f32"));
        Tensor x = randn(c.x, gen), w = randn(c.w, gen), b = randn(Shape{c.w[0]}, gen);
        const Tensor wk = half ? to_bf16(w) : w;
        Tensor want = nans(c.y()), got = nans(c.y());
        cpu::conv2d_forward(x, wk, Tensor(), want, c.p);
        cpu::add_bias(want, b, want.size(2) * want.size(3));
        cpu::conv2d_forward(x, wk, b, got, c.p);
        CHECK(test::rel_l2(got.to_vector<float>(), want.to_vector<float>()) < kTol);
      }
  }
}

TEST_CASE("conv2d_backward equals its three kernels on every CPU path and for every subset of gradients",
          "[ops][conv][onednn]") {
  Generator gen(22);
  for (cpu::ConvBackend backend : test::conv_backends()) {
    test::ConvBackendGuard guard(backend);
    for (const ConvCase& c : kConvCases)
      for (bool half : {false, true}) {
        const Shape ys = c.y(), bs{c.w[0]};
        Tensor x = randn(c.x, gen), w = randn(c.w, gen);
        Tensor old_w = randn(c.w, gen), old_b = randn(bs, gen);
        const Tensor wk = half ? to_bf16(w) : w;
        for (int mask = 1; mask < 8; ++mask)
          for (float beta : {0.0f, 1.0f}) {
            INFO(cpu::conv_backend_name(backend) << ", " << c.name << (half ? ", bf16 weight" : ", f32") << ", gx "
                                                 << (mask & 1) << " gw " << (mask >> 1 & 1) << " gb " << (mask >> 2)
                                                 << ", beta " << beta);
            // A fresh gy every call, so that no call can pass on a copy another call left behind.
            // The reference: the products on gy rounded once (the op's rounding before this kernel).
            Tensor gy = randn(ys, gen);
            const Tensor gy_products = half ? to_bf16(gy) : gy;
            Tensor gx_ref = nans(c.x), dw = nans(c.w), db = nans(bs);
            cpu::conv2d_backward_data(gy_products, wk, gx_ref, c.p);
            cpu::conv2d_backward_filter(x, gy_products, dw, c.p, 0.0f);
            cpu::bias_grad(gy, ys[2] * ys[3], db, 0.0f);

            Tensor gx = nans(c.x), gw = beta != 0.0f ? old_w.clone() : nans(c.w);
            Tensor gb = beta != 0.0f ? old_b.clone() : nans(bs);
            ConvGrads g;
            if (mask & 1) g.gx = &gx;
            if (mask & 2) g.gw = &gw, g.beta_w = beta;
            if (mask & 4) g.gb = &gb, g.beta_b = beta;
            cpu::conv2d_backward(x, wk, gy, g, c.p);
            if (g.gx) CHECK(test::rel_l2(gx.to_vector<float>(), gx_ref.to_vector<float>()) < kTol);
            if (g.gw) CHECK(test::rel_l2(gw.to_vector<float>(), (beta != 0.0f ? add(old_w, dw) : dw).to_vector<float>()) < kTol);
            if (g.gb) CHECK(test::rel_l2(gb.to_vector<float>(), (beta != 0.0f ? add(old_b, db) : db).to_vector<float>()) < kTol);
            // A gradient not asked for is not written.
            if (!g.gx) CHECK(all_nan(gx));
            if (!g.gw && beta == 0.0f) CHECK(all_nan(gw));
            if (!g.gb && beta == 0.0f) CHECK(all_nan(gb));
          }
      }
  }
}

TEST_CASE("conv2d_backward rejects a bf16 output gradient", "[ops][conv]") {
  Tensor x = Tensor::zeros(Shape{1, 16, 4, 4}), w = Tensor::zeros(Shape{16, 16, 3, 3});
  Tensor gy = Tensor::empty(Shape{1, 16, 4, 4}, DType::bf16), gx = Tensor::empty(x.shape());
  ConvGrads g;
  g.gx = &gx;
  CHECK_THROWS_WITH(cpu::conv2d_backward(x, w, gy, g, Conv2dParams{1, 1, 1, 1, 1, 1, 1}),
                    Catch::Contains("gy is bf16; expected f32"));
}
