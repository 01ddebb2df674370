#pragma once
// Backend kernels of the spiking ops, declared for the CPU (spiking/neuron_cpu.cpp) and CUDA
// (spiking/neuron.cu) in trim::cpu / trim::cuda, so TRIM_DISPATCH picks one. Kernels never
// allocate their outputs (only scratch) or record autograd; spiking/neuron.cpp checks shapes.
#include "core/kernels/kernels.h"
#include "core/tensor.h"
#include "spiking/neuron_math.h"

namespace trim::spiking {

// Tensors of one multi-step forward, viewed as [T, n]. Undefined = absent (see NeuronForwardFn).
struct NeuronForwardArgs {
  Tensor x, v0, w;        // inputs: x [T, ...]; v0 [...] or none; w [1] for PLIF
  Tensor s, h, v_last;    // outputs: s [T, ...]; h [T, ...] and v_last [...] when wanted
};

// Tensors of one backward (see NeuronBackwardFn). gw [1], when defined, receives dL/dw of PLIF,
// reduced over all neurons in a fixed order (deterministic, no atomics).
struct NeuronBackwardArgs {
  Tensor h, x, v0, w, gs, gv_last;
  Tensor gx, gv0, gw;
};

}  // namespace trim::spiking

namespace trim::cpu {
#include "spiking/neuron_kernel_list.inc"
}  // namespace trim::cpu

namespace trim::cuda {
#include "spiking/neuron_kernel_list.inc"
}  // namespace trim::cuda
