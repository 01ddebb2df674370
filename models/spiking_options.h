#pragma once
// Internal: the options the zoo's spiking models share (see models.h).
#include <cstdint>
#include <initializer_list>
#include <memory>

#include "core/config.h"
#include "spiking/neuron_layer.h"

namespace trim {

// Reads "T" (>= 1, default 4).
int64_t read_time_steps(const Config& spec);

// Reads the neuron keys of a model spec (spiking/README.md: neuron, tau, decay_input, v_threshold,
// v_reset, detach_reset, surrogate, alpha), with SEW ResNet's IF neuron as the default: neuron
// "if", detach_reset true, surrogate "atan" unless given. Every key of `spec` that is not in
// `model_keys` (the model's own, already read) is taken as a neuron key, so a misspelt key is an
// error naming its JSON path. Marks all of them as read.
spiking::NeuronConfig read_model_neuron(const Config& spec, std::initializer_list<const char*> model_keys);

// An IFNode, LIFNode or PLIFNode as cfg.kind says.
std::shared_ptr<spiking::NeuronLayer> make_neuron_layer(const spiking::NeuronConfig& cfg);

}  // namespace trim
