#pragma once
// What a spiking model costs per image on its evaluation pass: firing rates weighted by neuron
// count, synaptic operations (SOPs) and the energy estimate SNN papers report next to accuracy.
// Definitions and constants: spiking/README.md#firing-rates and
// spiking/README.md#synaptic-operations-and-energy.
//
// Use: construct an EvalRecording around an evaluation pass, then write its keys.
//   spiking::EvalRecording rec(model);   // nothing happens for a model that is not spiking
//   Eval e = evaluate(...);
//   rec.write(line, comm);               // firing_rate_eval, firing_rates_eval,
//                                        // synaptic_operations, energy_mj_per_image
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/comm/communicator.h"
#include "layers/module.h"

namespace trim {
class WeightedLayer;
}

namespace trim::spiking {

class SpikingNetwork;
class NeuronLayer;

// Energy per operation in 45 nm CMOS (Horowitz, ISSCC 2014), as SNN papers quote them: one 32-bit
// floating-point accumulate (a spike reaching a synapse) and one multiply-accumulate (the layer that
// reads the image).
constexpr double kPicojoulesPerAccumulate = 0.9;
constexpr double kPicojoulesPerMac = 4.6;

// The per-image cost of one evaluation pass.
struct SynapticOps {
  std::vector<std::pair<std::string, double>> layers;  // every conv / linear layer, module order:
                                                       // SOPs, or MACs for the image-fed one
  std::string image_layer;  // the layer fed by the image (direct encoding), "" when none
  double image_macs = 0.0;  // its multiply-accumulates (non-zero weights only), once per image
  double total = 0.0;       // the SOPs of the layers fed by spikes
  double energy_mj() const { return (kPicojoulesPerMac * image_macs + kPicojoulesPerAccumulate * total) * 1e-9; }
  // {"layers": {name: ops}, "image_layer": name, "image_macs": n, "total": n}
  nlohmann::json to_json() const;
};

// Records the evaluation-mode forward passes of a SpikingNetwork while it lives (training passes
// and other models are untouched); detaches from the model when destroyed. Recording adds, per
// pass, one sum per neuron layer and one extra product per spike-fed conv / linear layer (the
// layer's input against the 0/1 pattern of its non-zero weights), so the evaluation it wraps costs
// about twice the layers' arithmetic. The weights must not change while it records.
class EvalRecording {
 public:
  explicit EvalRecording(Module& model);
  ~EvalRecording();
  EvalRecording(const EvalRecording&) = delete;
  EvalRecording& operator=(const EvalRecording&) = delete;

  bool active() const { return net_ != nullptr; }
  // Called by SpikingNetwork::forward after each evaluation-mode pass of `images` examples.
  void add_pass(int64_t images);

  // The recorded pass, its sums added over the ranks of `comm` (every rank must call it when the
  // model is spiking). Empty SOPs and rates when no pass ran.
  SynapticOps synaptic_operations(comm::Communicator& comm);
  // Adds "firing_rate_eval" (all spikes / (T · all neurons · images)), "firing_rates_eval"
  // ({neuron layer: spikes / (T · neurons · images)}), "synaptic_operations" (SynapticOps::to_json)
  // and "energy_mj_per_image" to `out`; nothing for a model that is not spiking or when no
  // evaluation pass ran. Collective over `comm`, as synaptic_operations().
  void write(nlohmann::json& out, comm::Communicator& comm);

 private:
  void probe(size_t layer, const Tensor& input);
  void reduce(comm::Communicator& comm);

  SpikingNetwork* net_ = nullptr;
  std::vector<std::pair<std::string, NeuronLayer*>> neurons_;
  std::vector<std::pair<std::string, WeightedLayer*>> layers_;
  std::vector<Tensor> patterns_;  // per layer: 1 where the weight is non-zero, 0 elsewhere
  Tensor spike_sums_;             // [neurons]: Σ over passes of rate · images
  Tensor op_sums_;                // [layers]: Σ over passes of the accumulates (summed over T)
  std::vector<int64_t> batch_;    // per layer: the batch dimension of its last input
  int64_t images_ = 0, passes_ = 0;
  bool reduced_ = false;
  std::vector<double> spikes_host_, ops_host_;  // after reduce()
  double images_host_ = 0.0;
};

}  // namespace trim::spiking
