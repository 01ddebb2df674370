// Every op of the table (apps/bench/op_cases.cpp): the CPU backward agrees with central finite
// differences of the forward. The whole table runs on the default CPU convolution backend; the
// conv cases run once more on every backend (im2col + GEMM and, when built in, oneDNN).
#include <catch2/catch.hpp>

#include "test/support/conv_backend_guard.h"
#include "test/support/gradcheck.h"

using namespace trim::test;

TEST_CASE("CPU backward matches finite differences for every op case", "[ops][gradcheck]") {
  for (const OpCase& c : op_cases()) {
    if (c.reference) continue;  // bf16 rows: test_precision compares them with their f32 reference
    SECTION(c.name) {
      std::string worst = check_finite_differences(c);
      INFO(c.name << ": " << worst);
      CHECK(worst.empty());
    }
  }
}

TEST_CASE("CPU conv backward matches finite differences on every convolution backend", "[ops][gradcheck][conv]") {
  for (trim::cpu::ConvBackend b : conv_backends()) {
    ConvBackendGuard guard(b);
    for (const OpCase& c : op_cases()) {
      if (c.name.rfind("conv2d", 0) != 0 || c.reference) continue;
      SECTION(std::string(trim::cpu::conv_backend_name(b)) + ": " + c.name) {
        std::string worst = check_finite_differences(c);
        INFO(trim::cpu::conv_backend_name(b) << " " << c.name << ": " << worst);
        CHECK(worst.empty());
      }
    }
  }
}
