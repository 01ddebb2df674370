// Every op of the table (test/support/op_cases.cpp): the CPU backward agrees with central finite
// differences of the forward.
#include <catch2/catch.hpp>

#include "test/support/gradcheck.h"

using namespace trim::test;

TEST_CASE("CPU backward matches finite differences for every op case", "[ops][gradcheck]") {
  for (const OpCase& c : op_cases()) {
    SECTION(c.name) {
      std::string worst = check_finite_differences(c);
      INFO(c.name << ": " << worst);
      CHECK(worst.empty());
    }
  }
}
