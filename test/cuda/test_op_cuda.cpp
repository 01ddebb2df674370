// Every op of the table: the CUDA backend's forward, backward and in-place updates agree with the
// CPU backend on the same inputs, in relative L2 and max-abs error, NaN-free (float32 on both: the
// test listener turns TF32 off; float32 arithmetic lands far below 1e-4, TF32 near 3e-4).
#include <catch2/catch.hpp>

#include "test/support/compare.h"
#include "test/support/gradcheck.h"

using namespace trim;
using namespace trim::test;

TEST_CASE("CUDA forward and backward match the CPU for every op case", "[cuda][ops]") {
  for (const OpCase& c : op_cases()) {
    SECTION(c.name) {
      std::vector<Tensor> inputs = make_inputs(c, 7);
      CaseResult cpu = run_case(c, inputs, Device::cpu());
      CaseResult gpu = run_case(c, inputs, Device::cuda(0));
      INFO(c.name);
      // bf16 convolution rows: cuDNN writes bf16-rounded results where oneDNN keeps f32
      // (kernel_list.inc), so the backends agree within one bf16 rounding. bf16 linear and matmul
      // rows write f32 on both backends from the same rounded operands: f32 tolerance.
      const bool bf16_conv = c.reference && c.name.rfind("conv2d", 0) == 0;
      const Tolerance tol = bf16_conv ? Tolerance{1e-2, 2e-2} : kFp32;
      CHECK(compare(gpu.output, cpu.output, tol) == "");
      for (size_t k = 0; k < inputs.size(); ++k) {
        INFO("input " << k);
        CHECK(compare(gpu.grads[k], cpu.grads[k], tol) == "");
        CHECK(compare(gpu.inputs[k], cpu.inputs[k], kFp32) == "");
      }
    }
  }
}
