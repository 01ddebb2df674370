// The sparse ops on CUDA (cuSPARSE, core/cuda/sparse.cu) against their CPU twin (core/cpu/sparse.cpp)
// and against the dense ops on the GPU: the op table's sparse rows, ResNet-50 and MLP shapes large
// enough for cuSPARSE's other algorithms, im2col of several images per chunk, and the CSR conversions of CUDA
// tensors (which go through the host). cuda_main turns allocation poisoning on: an output element
// the kernels leave unwritten reads as NaN and fails the comparison.
#include <catch2/catch.hpp>

#include "apps/bench/op_cases.h"
#include "core/device.h"
#include "core/ops/ops.h"
#include "core/ops/sparse.h"
#include "test/support/compare.h"

using namespace trim;
using namespace trim::test;

namespace {

const Device kGpu = Device::cuda(0);

std::vector<Tensor> on(const std::vector<Tensor>& t, Device d) {
  std::vector<Tensor> out;
  for (const Tensor& x : t) out.push_back(x.to(d));
  return out;
}

}  // namespace

TEST_CASE("CUDA sparse rows of the op table match the CPU kernels and the dense ops", "[cuda][sparse]") {
  for (const OpCase& c : op_cases()) {
    if (!c.dense) continue;
    SECTION(c.name) {
      std::vector<Tensor> inputs = make_inputs(c, 7);
      std::vector<Tensor> cpu_in = inputs, gpu_in = on(inputs, kGpu), gpu_dense_in = on(inputs, kGpu);
      const std::vector<float> cpu = c.run(cpu_in).to_vector<float>();
      Tensor gpu = c.run(gpu_in);
      REQUIRE(gpu.device() == kGpu);
      INFO(c.name);
      CHECK(compare(gpu.to_vector<float>(), cpu, kFp32) == "");
      CHECK(compare(gpu.to_vector<float>(), c.dense(gpu_dense_in).to_vector<float>(), kFp32) == "");
    }
  }
}

TEST_CASE("CUDA sparse ops at deployment sizes match the CPU kernels", "[cuda][sparse]") {
  // ResNet-50's 3x3 at 56x56 and its 1x1 at 14x14 (batch 8: several images per im2col chunk), a
  // strided 3x3, and the Fashion-MNIST MLP's first layer at batch 1 (SpMV) and 64 (SpMM).
  struct Conv {
    const char* name;
    Shape x, w;
    Conv2dParams p;
    float density;
  };
  for (Conv k : {Conv{"3x3 64->64 at 56x56", Shape{8, 64, 56, 56}, Shape{64, 64, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, 0.1f},
                 Conv{"1x1 1024->256 at 14x14", Shape{8, 1024, 14, 14}, Shape{256, 1024, 1, 1}, {1, 1, 0, 0, 1, 1, 1},
                      0.05f},
                 Conv{"3x3/2 128->128 at 56x56", Shape{3, 128, 56, 56}, Shape{128, 128, 3, 3}, {2, 2, 1, 1, 1, 1, 1},
                      0.2f},
                 // one output pixel per image: the row-major operands' leading dimension is 1
                 Conv{"3x3 8->16 at 3x3, no padding", Shape{4, 8, 3, 3}, Shape{16, 8, 3, 3}, {1, 1, 0, 0, 1, 1, 1}, 0.5f},
                 // 576 x 12544 im2col floats (29 MB) per image: a chunk of 9 images in 256 MiB, then one of 1
                 Conv{"3x3 64->64 at 112x112, batch 10", Shape{10, 64, 112, 112}, Shape{64, 64, 3, 3},
                      {1, 1, 1, 1, 1, 1, 1}, 0.1f}}) {
    SECTION(k.name) {
      // With a residual at batch 10 (two im2col chunks): the epilogue reads it across chunks.
      const bool residual = k.x[0] == 10;
      OpCase c = sparse_conv2d_case(k.name, k.x, k.w, true, k.p, k.density, 1, residual);
      std::vector<Tensor> inputs = make_inputs(c, 11);
      std::vector<Tensor> cpu_in = inputs, gpu_in = on(inputs, kGpu);
      CHECK(compare(c.run(gpu_in).to_vector<float>(), c.run(cpu_in).to_vector<float>(), kFp32) == "");
    }
  }
  for (int64_t batch : {1, 64}) {
    SECTION("linear 784 -> 300 at batch " + std::to_string(batch)) {
      OpCase c = sparse_linear_case("mlp", Shape{batch, 784}, Shape{300, 784}, true, 0.1f, 2);
      std::vector<Tensor> inputs = make_inputs(c, 13);
      std::vector<Tensor> cpu_in = inputs, gpu_in = on(inputs, kGpu);
      CHECK(compare(c.run(gpu_in).to_vector<float>(), c.run(cpu_in).to_vector<float>(), kFp32) == "");
    }
  }
}

TEST_CASE("CUDA sparse: CSR conversions and validate() work on CUDA tensors", "[cuda][sparse]") {
  Tensor w = Tensor::from_vector(Shape{2, 3}, std::vector<float>{0, 2, 0, 1, 0, 3}, kGpu);
  CsrMatrix m = CsrMatrix::from_dense(w);
  CHECK(m.device() == kGpu);
  CHECK(m.row_ptr.device() == kGpu);
  CHECK(m.row_ptr.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 3});
  CHECK(m.col_idx.to_vector<int32_t>() == std::vector<int32_t>{1, 0, 2});
  CHECK(m.to_dense().device() == kGpu);
  CHECK(m.to_dense().to_vector<float>() == w.to_vector<float>());
  CHECK_NOTHROW(m.validate("gpu weight"));
  CsrMatrix h = m.to(Device::cpu());
  CHECK(h.device() == Device::cpu());
  CHECK(h.to(kGpu).values.to_vector<float>() == std::vector<float>{2, 1, 3});
  CsrMatrix bad = m;
  bad.col_idx = Tensor::from_vector(Shape{3}, std::vector<int32_t>{1, 0, 5}, kGpu);
  CHECK_THROWS_WITH(bad.validate("gpu weight"), Catch::Contains("gpu weight") && Catch::Contains("col_indices[2] = 5"));
  // A weight on one device and an input on the other is refused.
  CHECK_THROWS_WITH(sparse_linear(Tensor::zeros(Shape{1, 3}), m, Tensor()), Catch::Contains("sparse_linear"));
}
