// The accumulating kernels on CUDA against the CPU, with beta = 0 (outputs start as NaN) and 1.
#include <catch2/catch.hpp>

#include "test/support/compare.h"
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
