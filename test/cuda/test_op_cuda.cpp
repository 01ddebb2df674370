// Every op of the table: the CUDA backend's forward, backward and in-place updates agree with the
// CPU backend on the same inputs, to a relative Euclidean error below 1e-4 (float32 on both: TF32 is
// off in these tests; float32 arithmetic lands far below that, TF32 near 3e-4).
#include <catch2/catch.hpp>

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
      CHECK(rel_l2(gpu.output, cpu.output) < 1e-4);
      for (size_t k = 0; k < inputs.size(); ++k) {
        INFO("input " << k);
        CHECK(rel_l2(gpu.grads[k], cpu.grads[k]) < 1e-4);
        CHECK(rel_l2(gpu.inputs[k], cpu.inputs[k]) < 1e-4);
      }
    }
  }
}
