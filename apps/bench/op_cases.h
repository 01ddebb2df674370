#pragma once
// The op table shared by the finite-difference test (CPU) and the CUDA-vs-CPU test: every
// differentiable op on several shapes (odd sizes, batch 1, groups, padding, strides).
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace trim::test {

struct InputSpec {
  enum class Kind {
    normal,          // N(0, 1)
    away_from_zero,  // |x| >= 0.1, so a small finite-difference step never crosses a ReLU kink
    distinct,        // all values distinct, 0.05 apart: max-pool argmaxes never change under a step
    positive,        // in [0.5, 1.5]: variances
    labels,          // i32 in [0, classes)
  };
  Shape shape;
  Kind kind = Kind::normal;
  bool grad = true;  // f32 input whose gradient is checked
  int classes = 0;   // labels only
};

struct OpCase {
  std::string name;
  std::vector<InputSpec> inputs;
  // Builds the output from the inputs (inputs may be updated in place, e.g. BN running statistics).
  std::function<Tensor(std::vector<Tensor>&)> run;
  // Finite-difference step: large for ops that are linear in every input (exact, and less noise).
  float fd_step = 1e-3f;
};

const std::vector<OpCase>& op_cases();

// The case's inputs on the CPU, from a fixed seed; f32 inputs with spec.grad require grad.
std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed);

}  // namespace trim::test
