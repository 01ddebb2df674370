#pragma once
// SpikingNetwork: the base of models built from neuron layers. Its training forward passes add
// every neuron layer's firing rate to a running sum on the device (one tiny add per layer, no host
// sync), so a trainer can report each layer's mean rate over an epoch with one host read
// (take_metrics, the model-metrics hook of layers/module.h).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"
#include "spiking/neuron_layer.h"

namespace trim::spiking {

class EvalRecording;

class SpikingNetwork : public Module {
 public:
  // forward_steps(x); then, in training mode, each neuron layer's firing rate of this pass is
  // added to its running sum.
  Tensor forward(const Tensor& x) final;

  // Every NeuronLayer below this module with its full name ("layer1.0.sn1"), depth-first.
  std::vector<std::pair<std::string, NeuronLayer*>> neuron_layers();

  // Each neuron layer's mean firing rate over the training forward passes since the last call
  // (or since construction), then restarts the sums. Empty when no training pass ran since.
  // One host read. Every neuron layer must run in every forward pass (it does in the zoo's models).
  std::vector<std::pair<std::string, double>> take_firing_rates();
  int64_t recorded_passes() const { return passes_; }

  // Adds "firing_rates" {neuron layer name: mean spike rate} and "firing_rate" (the plain mean over
  // layers, each layer counting once) over the training passes since the last call
  // (take_firing_rates; nothing when none ran). The neuron-weighted rate of the evaluation pass is
  // spiking/synaptic_ops.h's firing_rate_eval (spiking/README.md#firing-rates).
  void take_metrics(nlohmann::json& metrics) override;
  // summary.json repeats these and the evaluation-pass keys of spiking/synaptic_ops.h.
  std::vector<std::string> summary_metric_keys() const override {
    return {"firing_rates", "firing_rate", "firing_rates_eval", "firing_rate_eval", "synaptic_operations",
            "energy_mj_per_image"};
  }

  // While set (by spiking/synaptic_ops.h's EvalRecording), every evaluation-mode forward reports
  // its batch to it.
  void set_eval_recorder(EvalRecording* r) { recorder_ = r; }

 protected:
  virtual Tensor forward_steps(const Tensor& x) = 0;

 private:
  std::vector<std::pair<std::string, NeuronLayer*>> layers_;  // found at the first training pass
  Tensor sums_;                                               // [layers], on the rates' device
  int64_t passes_ = 0;
  EvalRecording* recorder_ = nullptr;
};

}  // namespace trim::spiking
