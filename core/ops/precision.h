#pragma once
// The precision policy: which element type the products of a forward and backward compute in.
//
//   fp32  every op computes in f32 (the default).
//   bf16  convolutions (conv2d), linear layers (linear) and matrix products (matmul) multiply bf16
//         operands with f32 accumulation and write f32 results; everything else -- batch norm,
//         the loss, softmax, reductions, neuron state, the activations between layers, every
//         gradient -- stays f32. No loss scaling is needed: bf16 has f32's exponent range.
//         Convolutions with fewer than kBf16MinChannels input channels per group (a stem's 1 or
//         3, depthwise's 1) stay f32 as well: their reduction is too short for bf16's paired dot
//         products, and casting their large output gradient cost more than it saved (bf16 took
//         1.2-2.2x the f32 time of ResNet-18's and SAP's CNN's stems on an AMX CPU, measured when
//         the gradient was still cast in a pass of its own). Without AMX (an AMD EPYC with
//         AVX-512 BF16) a bf16 7x7 stem takes about 0.6x of f32 and ResNet-18's bf16 step 0.965x
//         (process CPU time, with the rounding inside oneDNN's reorder); the rule stays until the
//         AMX case is measured again, as the policy is the same on every CPU.
//
// One way to choose it: a PrecisionScope on the thread that runs the ops, as NoGradGuard chooses
// grad mode. The trainer opens one around forward and backward (and evaluation) from the
// manifest's "precision" key. An op decides at forward time and records what its backward needs
// (its bf16 operands), so backward runs correctly whatever scope is open then.
//
// Weights' bf16 copies. A product's bf16 operand comes from bf16_operand(): a parameter with a
// registered copy (ParamStore::enable_bf16_copies: a bf16 arena that the fused SGD step writes in
// the same launch as the f32 parameter) returns that copy; any other tensor (an activation, a
// non-leaf weight such as LTP's soft-masked one) is cast on the fly. A registered copy remembers
// the storage version (Tensor::version) of its parameter when it was last made equal to it; any
// write to the parameter through trim's API outside the step (a hard prune, a rewind, a
// checkpoint load, ...) bumps that version, and the next bf16_operand() refreshes the copy with
// one cast. The step itself writes parameter and copy together and bumps nothing, so the copy
// stays valid across steps at no cost.
#include <string>

#include "core/tensor.h"

namespace trim {

enum class Precision { fp32, bf16 };

// Input channels per group below which a convolution computes in f32 under bf16 (see above).
inline constexpr int64_t kBf16MinChannels = 16;

// "fp32" / "bf16", and back (throws trim::Error naming the allowed values for anything else).
const char* precision_name(Precision p);
Precision precision_from_name(const std::string& name);

// This thread's policy (fp32 unless a PrecisionScope is open).
Precision compute_precision();
inline bool bf16_compute() { return compute_precision() == Precision::bf16; }

// Sets this thread's policy for its lifetime and restores the previous one.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision prev_;
};

// `t` (f32, or already bf16: returned as is) as a bf16 tensor of the same shape and device: its
// registered copy, refreshed if stale, else a fresh cast (round to nearest even).
Tensor bf16_operand(const Tensor& t);

// Registers `copy` (bf16, t's shape and device; typically a view of ParamStore's bf16 arena) as the
// bf16 copy of the f32 tensor `t` (every handle to it). The copy counts as stale until the first
// bf16_operand() casts it. Registering a tensor again replaces its copy.
void attach_bf16_copy(const Tensor& t, const Tensor& copy);
// Forgets t's copy (no effect when it has none).
void detach_bf16_copy(const Tensor& t);
// True when `t` has a registered copy (for tests and checks).
bool has_bf16_copy(const Tensor& t);

}  // namespace trim
