#pragma once
// Helpers that run an op case forward and backward and compare results.
#include <string>
#include <vector>

#include "apps/bench/op_cases.h"

namespace trim::test {

// What one forward + backward of a case produced, copied to the host.
struct CaseResult {
  std::vector<float> output;
  std::vector<std::vector<float>> grads;   // per input (empty where the input has no gradient)
  std::vector<std::vector<float>> inputs;  // f32 inputs after the run (ops may update them)
};

// Runs c on `inputs` (moved to `device` first) with the scalar loss sum(output * weights), where
// weights are fixed pseudo-random numbers, and backpropagates.
CaseResult run_case(const OpCase& c, const std::vector<Tensor>& inputs, Device device);

// ||a - b|| / ||b|| (Euclidean; 0 when both are empty or zero, infinite on a size mismatch or NaN).
double rel_l2(const std::vector<float>& a, const std::vector<float>& b);

// Largest |a - b| / (atol + rtol * |b|) over the elements; <= 1 means they agree.
double mismatch(const std::vector<float>& a, const std::vector<float>& b, double atol, double rtol);

// Central finite differences of the case's loss on the CPU, for up to `samples` elements of every
// input that has a gradient, compared with the analytic gradient. Returns a description of the
// worst disagreement, or an empty string when all agree within tolerance.
std::string check_finite_differences(const OpCase& c, int samples = 24);

}  // namespace trim::test
