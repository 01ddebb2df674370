#include "models/spiking_options.h"

#include <string>

namespace trim {

int64_t read_time_steps(const Config& spec) {
  int64_t T = spec.get<int64_t>("T", 4);
  if (T < 1) spec.fail("T", cat("expected a number of time steps >= 1, found ", T));
  return T;
}

spiking::NeuronConfig read_model_neuron(const Config& spec, std::initializer_list<const char*> model_keys) {
  nlohmann::json keys = nlohmann::json::object();
  for (auto it = spec.json().begin(); it != spec.json().end(); ++it) {
    bool own = false;
    for (const char* k : model_keys) own = own || it.key() == k;
    if (!own) keys[it.key()] = it.value();
  }
  // SEW ResNet's neuron (spiking/README.md, "Defaults"); the parser's own defaults are LIF's.
  if (!keys.contains("neuron")) keys["neuron"] = "if";
  if (!keys.contains("detach_reset")) keys["detach_reset"] = true;
  if (!keys.contains("surrogate")) keys["surrogate"] = "atan";
  Config neuron(keys, spec.source(), spec.path());
  for (const char* k : model_keys) neuron.accept(k);  // so "known keys" in an error lists them too
  spiking::NeuronConfig cfg = spiking::parse_neuron_config(neuron);
  for (auto it = keys.begin(); it != keys.end(); ++it) spec.accept(it.key());
  return cfg;
}

std::shared_ptr<spiking::NeuronLayer> make_neuron_layer(const spiking::NeuronConfig& cfg) {
  switch (cfg.kind) {
    case spiking::NeuronKind::if_node: return std::make_shared<spiking::IFNode>(cfg);
    case spiking::NeuronKind::lif: return std::make_shared<spiking::LIFNode>(cfg);
    default: return std::make_shared<spiking::PLIFNode>(cfg);
  }
}

}  // namespace trim
