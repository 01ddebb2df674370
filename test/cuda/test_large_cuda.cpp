// CUDA kernels against their CPU twins on sizes the small op table never reaches: grid-stride loops
// (millions of elements, more than one pass of the grid), reductions over many blocks, many rows
// and many classes.
#include <catch2/catch.hpp>

#include <cmath>

#include "test/support/compare.h"
#include "test/support/kernel_call.h"

using namespace trim;
using namespace trim::test;

namespace {

const Device kGpu = Device::cuda(0);

// Runs body(device) -> its outputs copied to the host, on the CPU and on the GPU, and compares them.
template <class Body>
void expect_same(const char* what, const Body& body, Tolerance tol = kFp32) {
  std::vector<std::vector<float>> cpu = body(Device::cpu()), gpu = body(kGpu);
  REQUIRE(cpu.size() == gpu.size());
  for (size_t k = 0; k < cpu.size(); ++k) {
    INFO(what << ", output " << k);
    CHECK(compare(gpu[k], cpu[k], tol) == "");
  }
}

std::vector<float> host(const Tensor& t) {
  if (t.dtype() == DType::i32) {
    std::vector<int32_t> v = t.to_vector<int32_t>();
    return std::vector<float>(v.begin(), v.end());
  }
  return t.to_vector<float>();
}

}  // namespace

TEST_CASE("element-wise and pooling kernels over millions of elements match the CPU", "[cuda][large]") {
  expect_same("add_bias [8, 64, 4096]", [](Device d) {
    Tensor y = normal_tensor(Shape{8, 64, 4096}, 1, d), b = normal_tensor(Shape{64}, 2, d);
    TRIM_TEST_KERNEL(d, add_bias, y, b, 4096);
    return std::vector<std::vector<float>>{host(y)};
  });
  expect_same("affine_u8 [64, 3, 128, 128]", [](Device d) {
    std::vector<uint8_t> px(size_t(64) * 3 * 128 * 128);
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 2654435761u) >> 13);
    Tensor x = Tensor::from_vector(Shape{64, 3, 128, 128}, px, d), y = Tensor::empty(x.shape(), DType::f32, d);
    ChannelAffine a;
    a.channels = 3;
    for (int k = 0; k < 3; ++k) a.scale[k] = 0.02f * float(k + 1), a.shift[k] = -0.4f * float(k);
    TRIM_TEST_KERNEL(d, affine_u8, x, a, y);
    return std::vector<std::vector<float>>{host(y)};
  });
  for (bool max : {true, false}) {
    expect_same(max ? "max_pool2d 3x3/2 pad 1 on [16, 64, 56, 56]" : "avg_pool2d 3x3/2 pad 1 on [16, 64, 56, 56]",
                [max](Device d) {
                  Pool2dParams p{3, 3, 2, 2, 1, 1};
                  Tensor x = normal_tensor(Shape{16, 64, 56, 56}, 3, d), y = Tensor::empty(Shape{16, 64, 28, 28}, DType::f32, d);
                  Tensor gy = normal_tensor(y.shape(), 4, d), gx = Tensor::empty(x.shape(), DType::f32, d);
                  if (max) {
                    Tensor idx = Tensor::empty(y.shape(), DType::i32, d);
                    TRIM_TEST_KERNEL(d, max_pool2d_forward, x, y, idx, p);
                    TRIM_TEST_KERNEL(d, max_pool2d_backward, idx, gy, gx, p);
                    return std::vector<std::vector<float>>{host(y), host(idx), host(gx)};
                  }
                  TRIM_TEST_KERNEL(d, avg_pool2d_forward, x, y, p);
                  TRIM_TEST_KERNEL(d, avg_pool2d_backward, gy, gx, p);
                  return std::vector<std::vector<float>>{host(y), host(gx)};
                });
  }
  expect_same("global_avg_pool [32, 256, 16, 16]", [](Device d) {
    Tensor x = normal_tensor(Shape{32, 256, 16, 16}, 5, d), y = Tensor::empty(Shape{32, 256}, DType::f32, d);
    Tensor gx = Tensor::empty(x.shape(), DType::f32, d);
    TRIM_TEST_KERNEL(d, global_avg_pool_forward, x, y);
    TRIM_TEST_KERNEL(d, global_avg_pool_backward, y, gx);
    return std::vector<std::vector<float>>{host(y), host(gx)};
  });
  expect_same("relu and dropout on 3M elements", [](Device d) {
    Tensor x = normal_tensor(Shape{3000001}, 6, d), y = Tensor::empty(x.shape(), DType::f32, d);
    Tensor z = Tensor::empty(x.shape(), DType::f32, d);
    TRIM_TEST_KERNEL(d, relu_forward, x, y);
    TRIM_TEST_KERNEL(d, dropout, x, 0.25f, RandomKey{9, 100}, z);
    return std::vector<std::vector<float>>{host(y), host(z)};
  });
}

TEST_CASE("sum and bias_grad over many blocks match the CPU", "[cuda][large][reduce]") {
  expect_same("sum of 5000003 values", [](Device d) {
    Tensor x = normal_tensor(Shape{5000003}, 7, d), y = Tensor::empty(Shape{}, DType::f32, d);
    TRIM_TEST_KERNEL(d, sum, x, 0.5f, y);
    return std::vector<std::vector<float>>{host(y)};
  });
  // Long planes (conv), short planes (late conv layers) and one column per channel (linear).
  struct Layout {
    Shape gy;
    int64_t inner;
  };
  for (const Layout& l : {Layout{Shape{32, 64, 56, 56}, 3136}, Layout{Shape{64, 512, 7, 7}, 49},
                          Layout{Shape{4096, 1000}, 1}, Layout{Shape{3, 2000, 1, 1}, 1}, Layout{Shape{1, 5, 70}, 70}}) {
    for (float beta : {0.0f, 1.0f}) {
      expect_same(("bias_grad gy" + l.gy.str() + (beta != 0.0f ? " beta 1" : " beta 0")).c_str(), [&](Device d) {
        Tensor gy = normal_tensor(l.gy, 8, d);
        Tensor gb = beta != 0.0f ? normal_tensor(Shape{l.gy[1]}, 9, d) : Tensor::full(Shape{l.gy[1]}, NAN, DType::f32, d);
        TRIM_TEST_KERNEL(d, bias_grad, gy, l.inner, gb, beta);
        return std::vector<std::vector<float>>{host(gb)};
      });
    }
  }
}

TEST_CASE("cross-entropy and count_correct over many rows and classes match the CPU", "[cuda][large][loss]") {
  for (int64_t classes : {int64_t(10), int64_t(1000)}) {  // one thread per row, one warp per row
    expect_same(("softmax_xent rows 3000 classes " + std::to_string(classes)).c_str(), [classes](Device d) {
      const int64_t n = 3000;
      std::vector<int32_t> lab(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) lab[size_t(i)] = int32_t((i * 7919) % classes);
      lab[17] = int32_t(classes);  // out of range: a NaN row, on both backends
      Tensor z = normal_tensor(Shape{n, classes}, 10, d, 3.0f), y = Tensor::from_vector(Shape{n}, lab, d);
      Tensor probs = Tensor::empty(z.shape(), DType::f32, d), loss = Tensor::empty(Shape{}, DType::f32, d);
      Tensor g = Tensor::full(Shape{}, 2.0f, DType::f32, d), gz = Tensor::empty(z.shape(), DType::f32, d);
      TRIM_TEST_KERNEL(d, softmax_xent_forward, z, y, 0.1f, probs, loss);
      TRIM_TEST_KERNEL(d, softmax_xent_backward, probs, y, 0.1f, g, gz);
      lab[17] = 0;
      Tensor valid = Tensor::from_vector(Shape{n}, lab, d), counter = Tensor::zeros(Shape{}, DType::i32, d);
      TRIM_TEST_KERNEL(d, softmax_xent_forward, z, valid, 0.1f, probs, loss);
      TRIM_TEST_KERNEL(d, count_correct, z, valid, counter);
      return std::vector<std::vector<float>>{host(gz), host(probs), host(loss), host(counter)};
    });
  }
}
