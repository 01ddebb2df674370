// Convolution, batch norm and matrix products at realistic sizes, where cuDNN and cuBLAS pick other
// engines than for the op table's small shapes: float32 against the CPU tightly, TF32 loosely, and
// the benchmark (cudnnFind) and non-deterministic paths.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/device.h"
#include "core/ops/ops.h"
#include "test/support/compare.h"
#include "test/support/kernel_call.h"

using namespace trim;
using namespace trim::test;

namespace {

const Device kGpu = Device::cuda(0);

// ResNet-50's stem, a 3x3 block conv and a strided 1x1 downsample, at batch 32.
const ConvCase kResnet[] = {
    {"stem 7x7/2", Shape{32, 3, 224, 224}, Shape{64, 3, 7, 7}, {2, 2, 3, 3, 1, 1, 1}},
    {"3x3 at 56x56", Shape{32, 64, 56, 56}, Shape{64, 64, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
    {"1x1/2 downsample", Shape{32, 256, 56, 56}, Shape{512, 256, 1, 1}, {2, 2, 0, 0, 1, 1, 1}},
};

// y = conv(x, w), gx = conv^T(gy, w), gw = dW(x, gy), on device d.
std::vector<std::vector<float>> conv_passes(const ConvCase& c, Device d) {
  Shape ys = c.y();
  Tensor x = normal_tensor(c.x, 1, d), w = normal_tensor(c.w, 2, d, 0.05f), gy = normal_tensor(ys, 3, d);
  Tensor y = Tensor::empty(ys, DType::f32, d), gx = Tensor::empty(c.x, DType::f32, d), gw = Tensor::empty(c.w, DType::f32, d);
  TRIM_TEST_KERNEL(d, conv2d_forward, x, w, Tensor(), y, c.p);
  TRIM_TEST_KERNEL(d, conv2d_backward_data, gy, w, gx, c.p);
  TRIM_TEST_KERNEL(d, conv2d_backward_filter, x, gy, gw, c.p, 0.0f);
  return {y.to_vector<float>(), gx.to_vector<float>(), gw.to_vector<float>()};
}

void check_passes(const std::vector<std::vector<float>>& gpu, const std::vector<std::vector<float>>& cpu, Tolerance tol) {
  const char* pass[] = {"forward", "backward-data", "backward-filter"};
  for (size_t k = 0; k < 3; ++k) {
    INFO(pass[k]);
    CHECK(compare(gpu[k], cpu[k], tol) == "");
  }
}

}  // namespace

TEST_CASE("ResNet-sized convolutions match the CPU in float32 and, loosely, with TF32", "[cuda][conv][resnet]") {
  for (const ConvCase& c : kResnet) {
    INFO(c.name << " x" << c.x.str() << " w" << c.w.str());
    auto cpu = conv_passes(c, Device::cpu());
    set_tf32(false, false);
    check_passes(conv_passes(c, kGpu), cpu, kFp32);
    set_tf32(true, false);
    check_passes(conv_passes(c, kGpu), cpu, kTf32);
  }
}

TEST_CASE("cudnnFind and non-deterministic algorithms run and match the CPU", "[cuda][conv]") {
  const ConvCase c{"3x3 at 28x28", Shape{16, 128, 28, 28}, Shape{128, 128, 3, 3}, {1, 1, 1, 1, 1, 1, 1}};
  auto cpu = conv_passes(c, Device::cpu());
  for (bool bench : {true, false})
    for (bool det : {true, false}) {
      INFO("benchmark " << bench << ", deterministic " << det);
      set_benchmark(bench);
      set_deterministic(det);
      check_passes(conv_passes(c, kGpu), cpu, kFp32);
      check_passes(conv_passes(c, kGpu), cpu, kFp32);  // the second call reuses the plan
    }
}

TEST_CASE("ResNet-sized batch norm matches the CPU", "[cuda][bn][resnet]") {
  auto run = [](Device d) {
    Shape s{32, 64, 56, 56}, c{64};
    Tensor x = normal_tensor(s, 4, d, 2.0f), gy = normal_tensor(s, 5, d), gamma = normal_tensor(c, 6, d);
    Tensor beta = normal_tensor(c, 7, d), rm = Tensor::zeros(c, DType::f32, d), rv = Tensor::full(c, 1.0f, DType::f32, d);
    Tensor y = Tensor::empty(s, DType::f32, d), mean = Tensor::empty(c, DType::f32, d), inv = Tensor::empty(c, DType::f32, d);
    TRIM_TEST_KERNEL(d, batch_norm_forward_train, x, gamma, beta, rm, rv, 0.1f, 1e-5f, y, mean, inv);
    Tensor gx = Tensor::empty(s, DType::f32, d), gg = Tensor::empty(c, DType::f32, d), gb = Tensor::empty(c, DType::f32, d);
    TRIM_TEST_KERNEL(d, batch_norm_backward, x, gy, gamma, mean, inv, 1e-5f, gx, gg, gb, 0.0f);
    Tensor ye = Tensor::empty(s, DType::f32, d);
    TRIM_TEST_KERNEL(d, batch_norm_forward_eval, x, gamma, beta, rm, rv, 1e-5f, ye);
    return std::vector<std::vector<float>>{y.to_vector<float>(), mean.to_vector<float>(), inv.to_vector<float>(),
                                           rm.to_vector<float>(), rv.to_vector<float>(), gx.to_vector<float>(),
                                           gg.to_vector<float>(), gb.to_vector<float>(), ye.to_vector<float>()};
  };
  auto cpu = run(Device::cpu()), gpu = run(kGpu);
  for (size_t k = 0; k < cpu.size(); ++k) {
    INFO("output " << k);
    CHECK(compare(gpu[k], cpu[k], kFp32) == "");
  }
}

TEST_CASE("matrix products: TF32 matmul, k = 0 with beta, and 32-bit limits", "[cuda][gemm]") {
  Tensor a = normal_tensor(Shape{512, 1024}, 8, Device::cpu()), b = normal_tensor(Shape{1024, 768}, 9, Device::cpu());
  std::vector<float> cpu = matmul(a, b).to_vector<float>();
  CHECK(compare(matmul(a.to(kGpu), b.to(kGpu)).to_vector<float>(), cpu, kFp32) == "");
  set_tf32(false, true);
  CHECK(compare(matmul(a.to(kGpu), b.to(kGpu)).to_vector<float>(), cpu, kTf32) == "");
  set_tf32(false, false);
  CHECK(compare(matmul(a.to(kGpu), b.to(kGpu)).to_vector<float>(), cpu, kFp32) == "");  // the mode is reset

  // k = 0: C = beta * C (beta = 0 never reads C, which starts as NaN here).
  Tensor c = Tensor::full(Shape{3, 4}, 2.0f, DType::f32, kGpu);
  cuda::gemm(false, false, 3, 4, 0, 1.0f, nullptr, nullptr, 0.5f, c.data<float>());
  CHECK(c.to_vector<float>() == std::vector<float>(12, 1.0f));
  Tensor z = Tensor::full(Shape{3, 4}, NAN, DType::f32, kGpu);
  cuda::gemm(true, false, 3, 4, 0, 1.0f, nullptr, nullptr, 0.0f, z.data<float>());
  CHECK(z.to_vector<float>() == std::vector<float>(12, 0.0f));

  // Sizes past cuBLAS's int API are refused before any memory is touched.
  CHECK_THROWS_WITH(cuda::gemm(false, false, int64_t(1) << 31, 1, 1, 1.0f, nullptr, nullptr, 0.0f, nullptr),
                    Catch::Contains("2^31 - 1"));
  CHECK_THROWS_WITH(cuda::gemm(false, true, 1, 1, int64_t(3) << 30, 1.0f, nullptr, nullptr, 0.0f, nullptr),
                    Catch::Contains("2^31 - 1"));
}

TEST_CASE("conv2d's bias and its one-call backward match the CPU", "[cuda][conv]") {
  // conv2d_forward with a bias and conv2d_backward (all three gradients, gx alone, the bias alone,
  // gw and the bias; beta 0 and 1), as the conv2d op calls them: f32 tightly; with the bf16 weight
  // copy (gy rounded once inside the call) loosely, as cuDNN's bf16 outputs are bf16-rounded where
  // the CPU's are not.
  // Outputs not asked for stay as they were (NaN: the test main poisons new memory).
  set_tf32(false, false);
  const ConvCase kShapes[] = {
      {"3x3 at 14x14", Shape{8, 32, 14, 14}, Shape{48, 32, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
      {"depthwise 3x3/2", Shape{4, 32, 9, 9}, Shape{32, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 32}},
  };
  for (const ConvCase& c : kShapes)
    for (bool half : {false, true}) {
      if (half && c.p.groups != 1) continue;  // the bf16 policy keeps depthwise convolutions in f32
      INFO(c.name << (half ? ", bf16 weight" : ", f32"));
      auto run = [&](Device d, float beta, int mask) {
        const Shape ys = c.y(), bs{c.w[0]};
        Tensor x = normal_tensor(c.x, 11, d), w = normal_tensor(c.w, 12, d, 0.1f), b = normal_tensor(bs, 13, d);
        Tensor gy = normal_tensor(ys, 14, d);
        if (half) {
          Tensor w16 = Tensor::empty(c.w, DType::bf16, d);
          TRIM_TEST_KERNEL(d, cast, w, w16);
          w = w16;
        }
        Tensor y = Tensor::empty(ys, DType::f32, d), gx = Tensor::empty(c.x, DType::f32, d);
        Tensor gw = beta != 0.0f ? normal_tensor(c.w, 15, d) : Tensor::empty(c.w, DType::f32, d);
        Tensor gb = beta != 0.0f ? normal_tensor(bs, 16, d) : Tensor::empty(bs, DType::f32, d);
        TRIM_TEST_KERNEL(d, conv2d_forward, x, w, b, y, c.p);
        ConvGrads g;
        if (mask & 1) g.gx = &gx;
        if (mask & 2) g.gw = &gw, g.beta_w = beta;
        if (mask & 4) g.gb = &gb, g.beta_b = beta;
        if (d.is_cpu())  // the CPU's untouched outputs read as NaN too
          for (int k = 0; k < 3; ++k)
            if (!(mask >> k & 1) && (k == 0 || beta == 0.0f)) (k == 0 ? gx : k == 1 ? gw : gb).fill_(NAN);
        TRIM_TEST_KERNEL(d, conv2d_backward, x, w, gy, g, c.p);
        return std::vector<std::vector<float>>{y.to_vector<float>(), gx.to_vector<float>(), gw.to_vector<float>(),
                                               gb.to_vector<float>()};
      };
      for (int mask : {7, 1, 4, 6}) {
        for (float beta : {0.0f, 1.0f}) {
          auto cpu = run(Device::cpu(), beta, mask), gpu = run(kGpu, beta, mask);
          const char* out[] = {"y", "gx", "gw", "gb"};
          for (size_t k = 0; k < cpu.size(); ++k) {
            INFO(out[k] << ", gradients " << mask << ", beta " << beta);
            CHECK(compare(gpu[k], cpu[k], half && k < 3 ? kTf32 : kFp32) == "");
          }
        }
      }
    }
}
