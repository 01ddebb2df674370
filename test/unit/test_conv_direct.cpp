// The direct 3x3 inference convolution (core/cpu/conv_direct.h): its AVX-512 tiles (32 columns of a
// row, one row of a narrow plane, two rows of an 8-wide plane) and its portable loop against the
// training convolution conv2d with the bias and activation applied after it, over the plane widths
// that pick each tile, masked tails, channel counts off the blocks of 8, batches and thread counts;
// which layers it serves; PreparedConv2d taking it.
#include <catch2/catch.hpp>

#include <vector>

#include "core/cpu/conv_direct.h"
#include "core/ops/conv_infer.h"
#include "core/ops/ops.h"
#include "core/threads.h"
#include "test/support/compare.h"

using namespace trim;
using namespace trim::test;

namespace {

Conv2dParams same3x3() {
  Conv2dParams p;
  p.stride_h = p.stride_w = 1;
  p.pad_h = p.pad_w = 1;
  p.dil_h = p.dil_w = 1;
  return p;
}

Tensor random(const Shape& s, uint64_t& seed) {
  std::vector<float> v(size_t(s.numel()));
  for (float& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = float(int64_t(seed >> 40) % 2001 - 1000) / 1000.0f;
  }
  return Tensor::from_vector(s, v);
}

// What the kernel must equal: conv2d (training path), + bias inside it, + the residual (if any), then
// the activation.
std::vector<float> expected(const Tensor& x, const Tensor& w, const Tensor& b, Epilogue act, const Tensor& r) {
  Tensor y = conv2d(x, w, b, same3x3());
  if (r.defined()) y = add(y, r);
  if (act == Epilogue::relu) y = relu(y);
  if (act == Epilogue::relu6) y = relu6(y);
  return y.to_vector<float>();
}

bool cpu_has_avx512() { return __builtin_cpu_supports("avx512f"); }

}  // namespace

TEST_CASE("direct 3x3 convolution: every tile and the portable loop equal conv2d with bias, residual and activation",
          "[deploy][conv_direct]") {
  struct Case {
    int64_t out, in, h, w;
    bool bias;
    Epilogue act;
    const char* what;
  };
  const Case cases[] = {
      {8, 12, 32, 32, true, Epilogue::relu, "32 wide: one 2-vector tile per row"},
      {12, 8, 5, 33, false, Epilogue::none, "33 wide: a 2-vector tile, then a 1-vector tile of 1 column"},
      {20, 3, 4, 20, true, Epilogue::relu6, "20 wide: one 2-vector tile, its second vector 4 columns"},
      {28, 16, 16, 16, true, Epilogue::relu, "16 wide: two rows per tile"},
      {4, 12, 7, 12, true, Epilogue::none, "12 wide, odd height: two rows, then one"},
      {28, 32, 8, 8, false, Epilogue::relu, "8 wide: row pairs, four rows per tile"},
      {9, 5, 6, 8, true, Epilogue::relu6, "8 wide, 6 high: a 4-row tile, then a 2-row tile"},
      {8, 4, 5, 8, true, Epilogue::relu, "8 wide, odd height: one row per vector, masked"},
  };
  uint64_t seed = 3;
  for (const Case& k : cases) {
    Tensor w = random(Shape{k.out, k.in, 3, 3}, seed), b = k.bias ? random(Shape{k.out}, seed) : Tensor();
    std::shared_ptr<cpu::DirectConv3x3> d = cpu::make_direct_conv3x3(w, b);
    for (int64_t n : {1, 3})
      for (int threads : {1, 2})
        for (bool with_residual : {false, true}) {
          const int before = num_threads();
          set_num_threads(threads);
          Tensor x = random(Shape{n, k.in, k.h, k.w}, seed);
          Tensor r = with_residual ? random(Shape{n, k.out, k.h, k.w}, seed) : Tensor();
          const std::vector<float> want = expected(x, w, b, k.act, r);
          INFO(k.what << ": " << k.out << " x " << k.in << " channels, batch " << n << ", " << threads << " threads"
                      << (with_residual ? ", residual" : ""));
          Tensor y = Tensor::empty(Shape{n, k.out, k.h, k.w}, DType::f32, Device::cpu());
          cpu::direct_conv3x3_forward(*d, x, r, k.act, y, false);
          CHECK(compare(y.to_vector<float>(), want, kFp32) == "");
          if (cpu_has_avx512()) {
            Tensor yv = Tensor::full(Shape{n, k.out, k.h, k.w}, 1e30f);  // every element must be written
            cpu::direct_conv3x3_forward(*d, x, r, k.act, yv, true);
            CHECK(compare(yv.to_vector<float>(), want, kFp32) == "");
          }
          set_num_threads(before);
        }
  }
}

TEST_CASE("direct 3x3 convolution serves only few-channel 3x3 stride-1 layers it has a tile for",
          "[deploy][conv_direct]") {
  const bool avx512 = cpu_has_avx512();  // without it, nothing is served
  const Conv2dParams p = same3x3();
  CHECK(cpu::direct_conv3x3_serves(Shape{8, 12, 3, 3}, p, 32, 32) == avx512);
  CHECK(cpu::direct_conv3x3_serves(Shape{28, 32, 3, 3}, p, 8, 8) == avx512);
  CHECK(cpu::direct_conv3x3_serves(Shape{28, 32, 3, 3}, p, 7, 8) == avx512);  // odd height: one row per vector
  CHECK_FALSE(cpu::direct_conv3x3_serves(Shape{28, 32, 3, 3}, p, 7, 7));     // narrower than 8
  CHECK_FALSE(cpu::direct_conv3x3_serves(Shape{16, 32, 3, 3}, p, 32, 32));  // both on oneDNN's blocks of 16
  CHECK_FALSE(cpu::direct_conv3x3_serves(Shape{8, 80, 3, 3}, p, 32, 32));   // more than 64 channels
  CHECK_FALSE(cpu::direct_conv3x3_serves(Shape{8, 12, 1, 1}, p, 32, 32));   // not 3x3
  Conv2dParams strided = p;
  strided.stride_h = strided.stride_w = 2;
  CHECK_FALSE(cpu::direct_conv3x3_serves(Shape{8, 12, 3, 3}, strided, 32, 32));
}

TEST_CASE("PreparedConv2d runs few-channel 3x3 layers through the direct kernel and others through oneDNN, "
          "with the same results",
          "[deploy][conv_direct]") {
  uint64_t seed = 5;
  Tensor w = random(Shape{12, 8, 3, 3}, seed), b = random(Shape{12}, seed);
  PreparedConv2d conv(w, b, same3x3());
  // 32 x 32 (direct), 6 x 6 (not served: oneDNN), 8 x 8 (direct, row pairs), then 32 x 32 again.
  for (int64_t side : {32, 6, 8, 32}) {
    Tensor x = random(Shape{2, 8, side, side}, seed);
    INFO("plane " << side << " x " << side);
    CHECK(compare(conv.forward(x, Epilogue::relu).to_vector<float>(), expected(x, w, b, Epilogue::relu, Tensor()), kFp32) == "");
    Tensor r = random(Shape{2, 12, side, side}, seed);
    CHECK(compare(conv.forward(x, Epilogue::relu6, r).to_vector<float>(), expected(x, w, b, Epilogue::relu6, r),
                  kFp32) == "");
  }
}
