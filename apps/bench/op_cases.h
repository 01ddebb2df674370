#pragma once
// The op table: every differentiable op on several shapes (odd sizes, batch 1, groups, padding,
// strides), one table for correctness, gradients and timing, as ggml's test-backend-ops: the
// finite-difference test (CPU) and the CUDA-vs-CPU test check every case (test/support/gradcheck.h),
// and trim-bench times any case forward + backward on any device (apps/bench/op_perf.h), the table's
// rows (`--shapes table`) and the cases made from a zoo model's layers (apps/bench/zoo_cases.h).
//
// Why here: the table is the small library trim_op_table (apps/bench/CMakeLists.txt) that the tests
// and trim-bench both link; tests may include apps (they already test apps/runner), apps may not
// include test/. Its namespace stays trim::test: it is the tests' table first.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/kernels/params.h"
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
  // Below 1: each element is kept with this probability and the rest are exact zeros (a pruned
  // weight for the sparse ops' rows; 0 gives an all-zero tensor).
  float density = 1.0f;
  // Values rounded to bf16 when generated (the bf16 rows: operands that bf16 represents exactly).
  bool bf16_values = false;
};

// One case. Its name is the op's name, a space, then what sets the case apart
// ("conv2d k3 s2 p0 x[2, 2, 8, 7] w[3, 2, 3, 3]"); trim-bench reports the two parts as "op" and
// "shape". inputs[0] is the op's activation input: timed, it arrives from upstream as inside a
// network (its gradient is computed and passed on, not stored), while the other inputs with a
// gradient are leaves, as a layer's parameters.
struct OpCase {
  using Run = std::function<Tensor(std::vector<Tensor>&)>;
  // A row is written {name, inputs, run, fd_step}; the timing fields below keep their defaults.
  OpCase(std::string name_, std::vector<InputSpec> inputs_, Run run_, float fd_step_ = 1e-3f)
      : name(std::move(name_)), inputs(std::move(inputs_)), run(std::move(run_)), fd_step(fd_step_) {}

  std::string name;
  std::vector<InputSpec> inputs;
  // Builds the output from the inputs (inputs may be updated in place, e.g. BN running statistics).
  Run run;
  // Finite-difference step: large for ops that are linear in every input (exact, and less noise).
  float fd_step = 1e-3f;
  // For timing: the network layer the case stands for (zoo cases; empty in the table) and how
  // many layers of that network share its shape.
  std::string layer;
  int count = 1;
  // The op's integer arguments, which the inputs' shapes do not say (stride_h, pad_h, groups, ...),
  // as `trim-bench --list` prints them for scripts/bench_torch.py.
  std::vector<std::pair<std::string, int64_t>> args;
  // Forward-only rows (the sparse ops, which have no gradient): the same output from dense ops on
  // the same inputs, which test_sparse_ops compares with run's on the CPU (the CUDA-vs-CPU test
  // compares run's on both devices, as for every row).
  Run dense;
  // bf16 rows (the bf16 precision policy, core/ops/precision.h): run computes under a bf16
  // PrecisionScope, on inputs bf16 represents exactly; reference is the same op in f32, exact for
  // the products, so the two differ by the summation order and the bf16 rounding of the output
  // gradient inside backward. test_precision compares them with bf16 tolerances; the
  // finite-difference test skips these rows.
  Run reference;

  std::string op() const { return name.substr(0, name.find(' ')); }
  std::string shape() const { return name.find(' ') == std::string::npos ? "" : name.substr(name.find(' ') + 1); }
};

const std::vector<OpCase>& op_cases();

// The case's inputs on the CPU, from a fixed seed; f32 inputs with spec.grad require grad.
std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed);

// The cases of the three layer ops, as the table and the zoo cases build them. conv2d: x, w and
// with `bias` b [out] (x needs no gradient when `input_grad` is false: a network's image); batch_norm
// in training mode or not: x, gamma, beta, running mean and variance (updated in place when
// training); linear: x [n, in], w [out, in] and with `bias` b [out]. `name` follows the op's name.
OpCase conv2d_case(const std::string& name, const Shape& x, const Shape& w, bool bias, const Conv2dParams& p,
                   bool input_grad = true);
OpCase batch_norm_case(const std::string& name, const Shape& x, bool training);
OpCase linear_case(const std::string& name, const Shape& x, const Shape& w, bool bias);

// The sparse ops' forward-only rows (core/ops/sparse.h): inputs x, the dense weight w with the given
// density of nonzeros (converted to CSR inside run; `dense` runs linear / conv2d on it) and with
// `bias` b [out]; act 0 none, 1 relu, 2 relu6 (Epilogue); a convolution with `residual` takes one
// more input, the output-shaped residual added before the activation (args "residual": its index,
// 0 for none). None of them takes a gradient.
OpCase sparse_linear_case(const std::string& name, const Shape& x, const Shape& w, bool bias, float density, int act);
OpCase sparse_conv2d_case(const std::string& name, const Shape& x, const Shape& w, bool bias, const Conv2dParams& p,
                          float density, int act, bool residual = false);

// trim-bench --shapes sparse: dense against CSR inference (forward only, bias and ReLU fused in the
// sparse op, conv2d/linear + relu for dense) at 80/90/95/98% zeros, for ResNet-50's 3x3 and 1x1
// layer shapes (64 at 56x56 and 256 at 14x14; 256->64 at 56x56 and 1024->256 at 14x14) at batch 1
// and `batch`, and the Fashion-MNIST MLP's first layer (784 -> 128) at batch 1 and 64. Cases of one
// layer shape share `layer` (trim-bench times them interleaved and reports ratios to dense). The
// CSR weight is built on the first call and reused while the weight tensor is the same (deployment
// converts once).
std::vector<OpCase> sparse_perf_cases(int64_t batch);

}  // namespace trim::test
