#include "spiking/synaptic_ops.h"

#include <nlohmann/json.hpp>

#include "core/autograd/grad_mode.h"
#include "core/ops/conv.h"
#include "core/ops/elementwise.h"
#include "core/ops/linear.h"
#include "core/ops/reduce.h"
#include "layers/layers.h"
#include "spiking/firing_rates.h"

namespace trim::spiking {
namespace {

// A 0-d view of element i of a 1-d tensor, to add a pass's sum to.
Tensor slot(Tensor& sums, size_t i) { return sums.narrow0(int64_t(i), 1).view(Shape{}); }

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> out;
  for (float v : t.to_vector<float>()) out.push_back(double(v));
  return out;
}

}  // namespace

nlohmann::json SynapticOps::to_json() const {
  nlohmann::json per_layer = nlohmann::json::object();
  for (const auto& [name, ops] : layers) per_layer[name] = ops;
  return {{"layers", per_layer}, {"image_layer", image_layer}, {"image_macs", image_macs}, {"total", total}};
}

EvalRecording::EvalRecording(Module& model) : net_(dynamic_cast<SpikingNetwork*>(&model)) {
  if (!net_) return;
  neurons_ = net_->neuron_layers();
  for (auto& [name, m] : model.named_modules())
    if (dynamic_cast<Conv2d*>(m) || dynamic_cast<Linear*>(m)) layers_.emplace_back(name, static_cast<WeightedLayer*>(m));
  Device dev = layers_.empty() ? Device::cpu() : layers_.front().second->weight.device();
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Tensor& w = layers_[i].second->weight;
    std::vector<float> p = w.to_vector<float>();  // once per recording: the weights are fixed meanwhile
    for (float& v : p) v = v != 0.0f ? 1.0f : 0.0f;
    patterns_.push_back(Tensor::from_vector(w.shape(), p, dev));
    layers_[i].second->input_probe = [this, i](const Tensor& x) { probe(i, x); };
  }
  spike_sums_ = Tensor::zeros(Shape{int64_t(std::max<size_t>(neurons_.size(), 1))}, DType::f32, dev);
  op_sums_ = Tensor::zeros(Shape{int64_t(std::max<size_t>(layers_.size(), 1))}, DType::f32, dev);
  batch_.assign(layers_.size(), 0);
  net_->set_eval_recorder(this);
}

EvalRecording::~EvalRecording() {
  if (!net_) return;
  net_->set_eval_recorder(nullptr);
  for (auto& [name, layer] : layers_) layer->input_probe = nullptr;
}

// Layer 0 reads the image: its cost is its MACs, known from its shape. Every other layer's
// accumulates are Σ over outputs of (input ∗ the 0/1 pattern of its weights): each input value
// times the number of non-zero weights it reaches at its position, borders included.
void EvalRecording::probe(size_t i, const Tensor& x) {
  if (net_->training()) return;  // training passes are not the evaluation pass
  batch_[i] = x.size(0);
  if (i == 0) return;
  NoGradGuard no_grad;
  auto* conv = dynamic_cast<Conv2d*>(layers_[i].second);
  Tensor y = conv ? conv2d(x, patterns_[i], Tensor(), conv->params) : linear(x, patterns_[i]);
  Tensor s = slot(op_sums_, i);
  add_(s, sum(y), 1.0f);
}

void EvalRecording::add_pass(int64_t images) {
  NoGradGuard no_grad;
  for (size_t j = 0; j < neurons_.size(); ++j) {
    const Tensor& rate = neurons_[j].second->firing_rate();  // spikes / (T · neurons · images) of this pass
    TRIM_CHECK(rate.defined(), cat("EvalRecording: neuron layer '", neurons_[j].first,
                                   "' recorded no firing rate in this evaluation pass (not run, or recording is off)"));
    Tensor s = slot(spike_sums_, j);
    add_(s, rate, float(images));
  }
  images_ += images;
  ++passes_;
}

void EvalRecording::reduce(comm::Communicator& comm) {
  if (reduced_) return;
  reduced_ = true;
  spikes_host_ = to_doubles(spike_sums_);
  ops_host_ = to_doubles(op_sums_);
  std::vector<double> all = spikes_host_;
  all.insert(all.end(), ops_host_.begin(), ops_host_.end());
  all.push_back(double(images_));
  if (comm.world() > 1) comm.all_reduce_host(all, comm::ReduceOp::sum, "reducing the evaluation pass's spike and synaptic-operation counts");
  std::copy(all.begin(), all.begin() + spikes_host_.size(), spikes_host_.begin());
  std::copy(all.begin() + spikes_host_.size(), all.end() - 1, ops_host_.begin());
  images_host_ = all.back();
}

SynapticOps EvalRecording::synaptic_operations(comm::Communicator& comm) {
  SynapticOps out;
  if (!net_) return out;
  reduce(comm);
  if (images_host_ <= 0.0 || layers_.empty()) return out;
  // T from the neurons' input [T, N, ...]; a layer whose batch is the images' reads the mean over T
  // of spikes (the read-out after mean_time) and stands for T per-step products.
  int64_t T = 1;
  if (!neurons_.empty() && neurons_.front().second->last_input_shape().ndim() >= 2)
    T = neurons_.front().second->last_input_shape()[0];
  for (size_t i = 0; i < layers_.size(); ++i) {
    const WeightedLayer& layer = *layers_[i].second;
    double ops;
    if (i == 0) {
      double nonzero = 0.0;
      for (float v : patterns_[0].to_vector<float>()) nonzero += v;
      ops = double(layer.uses_per_weight) * nonzero;
      out.image_layer = layers_[i].first;
      out.image_macs = ops;
    } else {
      // Folded layers see [T·N, ...]; the read-out sees [N, ...], as the image-fed layer does.
      const bool time_mean = batch_[i] == batch_[0];
      ops = ops_host_[i] / images_host_ * double(time_mean ? T : 1);
      out.total += ops;
    }
    out.layers.emplace_back(layers_[i].first, ops);
  }
  return out;
}

void EvalRecording::write(nlohmann::json& out, comm::Communicator& comm) {
  if (!net_) return;
  SynapticOps sops = synaptic_operations(comm);
  if (images_host_ <= 0.0) return;
  nlohmann::json rates = nlohmann::json::object();
  double spikes = 0.0, neurons = 0.0;
  for (size_t j = 0; j < neurons_.size(); ++j) {
    const Shape& s = neurons_[j].second->last_input_shape();
    double n = s.ndim() >= 2 ? double(s.numel()) / double(s[0] * s[1]) : 0.0;  // neurons per example
    double rate = spikes_host_[j] / images_host_;
    rates[neurons_[j].first] = rate;
    spikes += rate * n;
    neurons += n;
  }
  if (!neurons_.empty()) {
    out["firing_rates_eval"] = rates;
    out["firing_rate_eval"] = neurons > 0.0 ? spikes / neurons : 0.0;
  }
  out["synaptic_operations"] = sops.to_json();
  out["energy_mj_per_image"] = sops.energy_mj();
}

}  // namespace trim::spiking
