#pragma once
// Comparing a result (CUDA) with a reference (CPU) strictly enough to catch what a relative L2
// error hides: a NaN anywhere (an unwritten output reads as NaN in the CUDA tests), and a few
// wrong elements among many (a boundary row, one block's share).
#include <string>
#include <vector>

namespace trim::test {

struct Tolerance {
  double rel_l2;   // ||got - want|| / ||want||
  double max_abs;  // max |got - want| / max |want| (or absolute when want is all zero)
};

// float32 on both sides, different summation orders.
constexpr Tolerance kFp32{1e-4, 1e-4};
// TF32 tensor-core math (10-bit mantissa inputs) against float32.
constexpr Tolerance kTf32{5e-3, 2e-2};

// Empty when got matches want: same size, NaN exactly where want has NaN, and both errors within
// tolerance. Otherwise a one-line description of the first violation (sizes, the first unexpected
// NaN, or the errors with the worst element's index and values).
std::string compare(const std::vector<float>& got, const std::vector<float>& want, Tolerance tol);

}  // namespace trim::test
