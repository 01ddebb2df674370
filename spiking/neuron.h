#pragma once
// Differentiable spiking ops (spiking/README.md#neurons): IF / LIF / PLIF neurons over multi-step inputs
// [T, N, ...], a single-step fire with a surrogate gradient, and time folding (repeat / mean over T).
#include <optional>

#include "core/config.h"
#include "core/tensor.h"
#include "spiking/neuron_math.h"

namespace trim::spiking {

// One neuron layer's settings. Defaults are SpikingJelly's LIF.
struct NeuronConfig {
  NeuronKind kind = NeuronKind::lif;
  float tau = 2.0f;                     // LIF's tau; PLIF's initial tau (w0 = -ln(tau - 1)); unused by IF
  bool decay_input = true;              // LIF / PLIF only
  float v_threshold = 1.0f;
  std::optional<float> v_reset = 0.0f;  // nullopt: soft reset
  bool detach_reset = false;
  surrogate::Surrogate surrogate{surrogate::Kind::sigmoid, 4.0f};
  // Fire with the smooth g instead of Theta in the forward pass too. Only for finite-difference
  // checks of backpropagation through time; never in a model.
  bool smooth_forward = false;
};

// Reads a neuron spec, strictly (unknown keys, wrong types and keys that do not apply to the
// neuron are errors naming the JSON path). Keys: "neuron" ("if" | "lif" | "plif", required),
// "tau" (> 1; LIF / PLIF), "decay_input" (LIF / PLIF), "v_threshold", "v_reset" (a number, or
// null for soft reset), "detach_reset", "surrogate" ("sigmoid" | "atan" | "piecewise_linear"),
// "alpha" (> 0; defaults 4, 2 and 1). Calls c.finish().
NeuronConfig parse_neuron_config(const Config& c);

// The kernels' view of a config (k = 1/tau); throws on invalid settings.
NeuronParams neuron_params(const NeuronConfig& cfg);

// PLIF's initial w for an initial tau0 > 1: w0 = -ln(tau0 - 1), so sigmoid(w0) = 1 / tau0.
float plif_initial_w(float tau0);

struct NeuronOutput {
  Tensor spikes;  // [T, N, ...]
  Tensor v;       // V[T], shaped like one step; defined only when asked for
};

// Runs the neuron over x [T, N, ...] (f32, T >= 1) in one fused pass. The membrane starts at v0
// (shaped [N, ...]) when given, else at its initial value (V_reset, or 0 under soft reset), so
// calls are independent unless the caller streams the state through v0 / return_v. PLIF needs
// w (f32 [1], on x's device), the other neurons refuse one. Differentiable in x, v0 and w; the
// saved state is H (and x for PLIF with decay_input when w needs a gradient).
NeuronOutput neuron_forward(const Tensor& x, const NeuronConfig& cfg, const Tensor& v0 = Tensor(),
                            const Tensor& w = Tensor(), bool return_v = false);

// Single-step fire: S = Theta(h - v_threshold) with the surrogate's gradient g'(h - v_threshold).
Tensor spike_fn(const Tensor& h, float v_threshold, const surrogate::Surrogate& sg);

// Direct encoding: [N, ...] -> [T, N, ...], every step a copy of x. Differentiable.
Tensor repeat_time(const Tensor& x, int64_t T);

// [T, N, ...] -> [N, ...], the mean over steps (summed in step order). Differentiable.
Tensor mean_time(const Tensor& x);

}  // namespace trim::spiking
