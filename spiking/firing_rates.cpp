#include "spiking/firing_rates.h"

#include <nlohmann/json.hpp>

#include "core/autograd/grad_mode.h"
#include "core/ops/elementwise.h"
#include "spiking/synaptic_ops.h"

namespace trim::spiking {

std::vector<std::pair<std::string, NeuronLayer*>> SpikingNetwork::neuron_layers() {
  std::vector<std::pair<std::string, NeuronLayer*>> out;
  for (const auto& [name, m] : named_modules())
    if (auto* n = dynamic_cast<NeuronLayer*>(m)) out.emplace_back(name, n);
  return out;
}

Tensor SpikingNetwork::forward(const Tensor& x) {
  Tensor y = forward_steps(x);
  if (!training()) {
    if (recorder_) recorder_->add_pass(x.size(0));
    return y;
  }
  if (layers_.empty()) layers_ = neuron_layers();
  if (layers_.empty()) return y;
  NoGradGuard no_grad;
  Device dev = x.device();  // the neurons' rates live where their inputs, and so x, live
  if (!sums_.defined() || sums_.device() != dev) {  // first pass, or the model moved: start over
    sums_ = Tensor::zeros(Shape{int64_t(layers_.size())}, DType::f32, dev);
    passes_ = 0;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Tensor& rate = layers_[i].second->firing_rate();
    TRIM_CHECK(rate.defined(), cat("SpikingNetwork: neuron layer '", layers_[i].first,
                                   "' recorded no firing rate in this forward pass (not run, or recording is off)"));
    Tensor slot = sums_.narrow0(int64_t(i), 1).view(Shape{});
    add_(slot, rate, 1.0f);
  }
  ++passes_;
  return y;
}

std::vector<std::pair<std::string, double>> SpikingNetwork::take_firing_rates() {
  std::vector<std::pair<std::string, double>> out;
  if (passes_ == 0 || !sums_.defined()) return out;
  std::vector<float> sums = sums_.to_vector<float>();
  for (size_t i = 0; i < layers_.size(); ++i) out.emplace_back(layers_[i].first, double(sums[i]) / double(passes_));
  sums_.zero_();
  passes_ = 0;
  return out;
}

void SpikingNetwork::take_metrics(nlohmann::json& metrics) {
  std::vector<std::pair<std::string, double>> rates = take_firing_rates();
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

}  // namespace trim::spiking
