#pragma once
// Model-level metrics for metrics.jsonl and summary.json: the firing rates of spiking models.
#include <nlohmann/json.hpp>

#include "layers/module.h"

namespace trim {

// For a spiking model (a spiking::SpikingNetwork, as the zoo's spiking models are): adds
// "firing_rates" {neuron layer name: mean spike rate} and "firing_rate" (the mean over layers) to
// `metrics`, each the mean over the training forward passes since the previous call (the epoch's
// training batches; evaluation passes are not counted), then restarts the count. One host read.
// After a resume mid-epoch the rates cover the batches trained since the resume. Models without
// neuron layers are left alone; neuron layers outside a SpikingNetwork have no per-epoch record,
// so they are reported once in the log and not in `metrics`.
void add_firing_rates(Module& model, nlohmann::json& metrics);

// Copies "firing_rates" and "firing_rate" from the last metrics line, when present, into `summary`.
void copy_firing_rates(const nlohmann::json& last_metrics, nlohmann::json& summary);

}  // namespace trim
