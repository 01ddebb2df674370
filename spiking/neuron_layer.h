#pragma once
// Module wrappers of the neurons: IFNode, LIFNode, PLIFNode over multi-step inputs [T, N, ...].
// Each forward call is independent (the membrane starts at its initial value), so no state leaks
// across batches; forward_stream() carries the membrane explicitly instead.
#include <memory>

#include "core/config.h"
#include "layers/module.h"
#include "spiking/neuron.h"

namespace trim::spiking {

class NeuronLayer : public Module {
 public:
  // PLIF registers "w" = -ln(tau - 1) as a parameter of kind norm, not prunable: pruners never
  // touch it, and optimizers exclude it from weight decay like BN's affine parameters.
  explicit NeuronLayer(const NeuronConfig& cfg);

  Tensor forward(const Tensor& x) override;  // [T, N, ...] -> spikes [T, N, ...]
  // Starts from v0 ([N, ...]; undefined = the initial value) and also returns V[T] for the next call.
  NeuronOutput forward_stream(const Tensor& x, const Tensor& v0);

  const NeuronConfig& config() const { return cfg_; }
  // Mean of the spikes of the last forward, as a 0-d tensor on the input's device (computed on
  // the device, no host sync; undefined before the first forward or when recording is off).
  const Tensor& firing_rate() const { return rate_; }
  void set_record_firing_rate(bool on) { record_rate_ = on; }
  // Shape of the last forward's input, [T, N, ...] (empty before the first): T and the neurons per
  // example (the product of the dimensions after N) for the evaluation-pass rates.
  const Shape& last_input_shape() const { return last_shape_; }
  // Reached only outside a SpikingNetwork (which reports its neurons' rates itself): such a layer
  // keeps no per-epoch record, so it says so once in the log and adds nothing.
  void take_metrics(nlohmann::json& metrics) override;

  Tensor w;  // PLIF's [1] parameter; undefined for IF and LIF

 private:
  NeuronConfig cfg_;
  Tensor rate_;
  Shape last_shape_;
  bool record_rate_ = true;
};

// SpikingJelly's defaults for each kind (NeuronConfig's defaults with the kind set).
class IFNode : public NeuronLayer {
 public:
  explicit IFNode(NeuronConfig cfg = {});
};

class LIFNode : public NeuronLayer {
 public:
  explicit LIFNode(NeuronConfig cfg = {});
};

class PLIFNode : public NeuronLayer {
 public:
  explicit PLIFNode(NeuronConfig cfg = {});  // cfg.tau is the initial tau
};

// Builds the neuron named by c's "neuron" key (see parse_neuron_config for the keys).
std::shared_ptr<NeuronLayer> make_neuron(const Config& c);

}  // namespace trim::spiking
