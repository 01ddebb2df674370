#pragma once
// Spiking neuron variants and op cases shared by the CPU tests (finite differences, step-by-step
// reference) and the CUDA-vs-CPU tests.
#include <string>
#include <vector>

#include "spiking/neuron.h"
#include "apps/bench/op_cases.h"

namespace trim::test {

struct NeuronVariant {
  std::string name;
  spiking::NeuronConfig cfg;
};

// Every neuron kind x hard / soft reset x detach_reset x decay_input (LIF / PLIF), with the ATan
// surrogate, then LIF and PLIF with the Sigmoid and piecewise-linear surrogates.
std::vector<NeuronVariant> neuron_variants();

// For each variant (those without detach_reset when `smooth`, whose gradient is then exact):
// neuron_forward on x [T, 2, 3, 5] with v0 (and w for PLIF), once with the spikes as output and
// once with V[T]. `smooth` fires with the surrogate's g in the forward pass too.
std::vector<OpCase> neuron_op_cases(bool smooth);

// repeat_time, mean_time and the SEW connect functions on a few shapes (all differentiable).
std::vector<OpCase> spiking_op_cases();

}  // namespace trim::test
