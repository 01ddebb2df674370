// The CUDA tests' comparison (test/support/compare.h) fails on what a relative L2 error hides.
#include <catch2/catch.hpp>

#include <cmath>

#include "test/support/compare.h"

using namespace trim::test;

TEST_CASE("compare catches NaNs, sparse errors and size mismatches", "[support][compare]") {
  std::vector<float> want(100000);
  for (size_t i = 0; i < want.size(); ++i) want[i] = std::sin(float(i));
  CHECK(compare(want, want, kFp32).empty());
  std::vector<float> one_wrong = want;
  one_wrong[77777] += 0.05f;  // relative L2 error ~2e-4 ... but one element 5% of the scale off
  CHECK_FALSE(compare(one_wrong, want, {1e-3, 1e-4}).empty());
  std::vector<float> nan = want;
  nan[5] = NAN;
  CHECK(compare(nan, want, kTf32).find("element 5") != std::string::npos);
  std::vector<float> both_nan = nan;
  CHECK(compare(both_nan, nan, kFp32).empty());  // NaN where the reference has NaN is right
  CHECK_FALSE(compare(std::vector<float>(3), std::vector<float>(4), kFp32).empty());
  std::vector<float> tiny = want;
  for (float& v : tiny) v *= 1.0f + 1e-6f;
  CHECK(compare(tiny, want, kFp32).empty());
}
