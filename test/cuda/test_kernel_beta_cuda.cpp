// The accumulating kernels on CUDA against the CPU, with beta = 0 (outputs start as NaN) and 1.
#include <catch2/catch.hpp>

#include "test/support/compare.h"
#include "core/kernels/kernels.h"
#include "test/support/kernel_beta.h"

using namespace trim;
using namespace trim::test;

TEST_CASE("bias_grad, conv2d_backward_filter and batch_norm_backward accumulate like the CPU", "[cuda][kernels][beta]") {
  for (float beta : {0.0f, 1.0f}) {
    INFO("beta " << beta);
    std::vector<BetaOutput> cpu = run_beta_kernels(Device::cpu(), beta);
    std::vector<BetaOutput> gpu = run_beta_kernels(Device::cuda(0), beta);
    REQUIRE(cpu.size() == gpu.size());
    for (size_t k = 0; k < cpu.size(); ++k) {
      INFO(cpu[k].name);
      CHECK(compare(gpu[k].after, cpu[k].after, kFp32) == "");
    }
  }
}

TEST_CASE("CUDA bias_grad of an empty batch or no channels", "[cuda][kernels][beta]") {
  const Device gpu = Device::cuda(0);
  Tensor gy = Tensor::empty(Shape{0, 5, 3}, DType::f32, gpu);
  Tensor gb = Tensor::full(Shape{5}, NAN, DType::f32, gpu);
  cuda::bias_grad(gy, 3, gb, 0.0f);
  CHECK(gb.to_vector<float>() == std::vector<float>(5, 0.0f));
  Tensor old = Tensor::from_vector(Shape{5}, std::vector<float>{1, 2, 3, 4, 5}, gpu);
  cuda::bias_grad(gy, 3, old, 1.0f);
  CHECK(old.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5});
  Tensor none = Tensor::empty(Shape{0}, DType::f32, gpu);
  cuda::bias_grad(Tensor::empty(Shape{4, 0, 3}, DType::f32, gpu), 3, none, 0.0f);  // launches nothing
  CHECK(none.numel() == 0);
}
