#include "apps/runner/model_metrics.h"

#include "core/log.h"
#include "spiking/firing_rates.h"

namespace trim {

void add_firing_rates(Module& model, nlohmann::json& metrics) {
  auto* net = dynamic_cast<spiking::SpikingNetwork*>(&model);
  if (!net) {
    static bool warned = false;
    if (!warned) {
      for (const auto& [name, m] : model.named_modules())
        if (dynamic_cast<spiking::NeuronLayer*>(m)) {
          log_warn("neuron layer '" + name + "' sits in a model that is not a spiking::SpikingNetwork: "
                   "its firing rate is not averaged over epochs and is left out of metrics.jsonl");
          warned = true;
          break;
        }
    }
    return;
  }
  std::vector<std::pair<std::string, double>> rates = net->take_firing_rates();
  if (rates.empty()) return;
  nlohmann::json per_layer = nlohmann::json::object();
  double sum = 0.0;
  for (const auto& [name, rate] : rates) {
    per_layer[name] = rate;
    sum += rate;
  }
  metrics["firing_rates"] = per_layer;
  metrics["firing_rate"] = sum / double(rates.size());
}

void copy_firing_rates(const nlohmann::json& last_metrics, nlohmann::json& summary) {
  for (const char* k : {"firing_rates", "firing_rate"})
    if (last_metrics.contains(k)) summary[k] = last_metrics[k];
}

}  // namespace trim
