#include "spiking/neuron_layer.h"

#include "core/autograd/grad_mode.h"
#include "core/log.h"
#include "core/kernels/kernels.h"

namespace trim::spiking {
namespace {

NeuronConfig with_kind(NeuronConfig cfg, NeuronKind kind) {
  cfg.kind = kind;
  return cfg;
}

}  // namespace

NeuronLayer::NeuronLayer(const NeuronConfig& cfg) : cfg_(cfg) {
  neuron_params(cfg_);  // refuse bad settings at construction, not at the first forward
  if (cfg_.kind == NeuronKind::plif) {
    w = Tensor::full(Shape{1}, plif_initial_w(cfg_.tau));
    register_parameter("w", &w, {ParamKind::norm, false});
  }
}

Tensor NeuronLayer::forward(const Tensor& x) { return forward_stream(x, Tensor()).spikes; }

NeuronOutput NeuronLayer::forward_stream(const Tensor& x, const Tensor& v0) {
  NeuronOutput out = neuron_forward(x, cfg_, v0, w, v0.defined());
  last_shape_ = x.shape();
  if (record_rate_) {
    NoGradGuard no_grad;
    int64_t n = out.spikes.numel();
    // One buffer, rewritten in place each pass (its readers add it to their sums at once): a step
    // captured as a CUDA graph must not keep memory it allocates (core/cuda/graph.h).
    if (!rate_.defined() || rate_.device() != x.device()) rate_ = Tensor::empty(Shape{}, DType::f32, x.device());
    if (n > 0)
      TRIM_DISPATCH(x.device(), sum, out.spikes, 1.0f / float(n), rate_);
    else
      rate_.fill_(0.0f);
  }
  return out;
}

IFNode::IFNode(NeuronConfig cfg) : NeuronLayer(with_kind(cfg, NeuronKind::if_node)) {}
LIFNode::LIFNode(NeuronConfig cfg) : NeuronLayer(with_kind(cfg, NeuronKind::lif)) {}
PLIFNode::PLIFNode(NeuronConfig cfg) : NeuronLayer(with_kind(cfg, NeuronKind::plif)) {}

std::shared_ptr<NeuronLayer> make_neuron(const Config& c) {
  NeuronConfig cfg = parse_neuron_config(c);
  switch (cfg.kind) {
    case NeuronKind::if_node: return std::make_shared<IFNode>(cfg);
    case NeuronKind::lif: return std::make_shared<LIFNode>(cfg);
    default: return std::make_shared<PLIFNode>(cfg);
  }
}

void NeuronLayer::take_metrics(nlohmann::json&) {
  static bool warned = false;
  if (warned) return;
  log_warn("a neuron layer sits in a model that is not a spiking::SpikingNetwork: its firing rate is not averaged "
           "over epochs and is left out of metrics.jsonl");
  warned = true;
}

}  // namespace trim::spiking
