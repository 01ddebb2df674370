#include "layers/profile.h"

#include "core/autograd/grad_mode.h"
#include "layers/layers.h"

namespace trim {
namespace {

int64_t count_nonzero(const Tensor& t) {
  int64_t n = 0;
  for (float v : t.to_vector<float>()) n += v != 0.0f;
  return n;
}

// One evaluation-mode forward pass of a batch of one (zeros), without autograd; the layers record
// the shapes they saw.
void forward_once(Module& model, const Shape& input_shape, Device device) {
  std::vector<int64_t> dims{1};
  for (int i = 0; i < input_shape.ndim(); ++i) dims.push_back(input_shape[i]);
  Shape batch_of_one(dims);
  NoGradGuard no_grad;
  bool was_training = model.training();
  model.eval();
  model(Tensor::zeros(batch_of_one, DType::f32, device));
  model.train(was_training);
}

}  // namespace

std::vector<LayerProfile> profile_layers(Module& model, const Shape& input_shape, Device device) {
  forward_once(model, input_shape, device);
  std::vector<LayerProfile> out;
  for (auto& [name, m] : model.named_modules()) {
    auto* layer = dynamic_cast<WeightedLayer*>(m);
    if (!layer) continue;
    TRIM_CHECK(layer->last_output.ndim() >= 2, cat("profile: layer '", name, "' did not run in the forward pass"));
    LayerProfile p;
    p.name = name;
    p.kind = dynamic_cast<Conv2d*>(m) ? "conv" : "linear";
    std::vector<int64_t> o;
    for (int i = 1; i < layer->last_output.ndim(); ++i) o.push_back(layer->last_output[i]);
    p.output = Shape(o);
    p.parameters = layer->weight.numel() + (layer->bias.defined() ? layer->bias.numel() : 0);
    p.macs = layer->uses_per_weight * layer->weight.numel();
    p.remaining_macs = layer->uses_per_weight * count_nonzero(layer->weight);
    out.push_back(p);
  }
  return out;
}

std::vector<LayerInput> layer_inputs(Module& model, const Shape& input_shape, Device device) {
  for (auto& [name, m] : model.named_modules()) {  // forget shapes from earlier passes
    if (auto* w = dynamic_cast<WeightedLayer*>(m)) w->last_input = Shape();
    if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) bn->last_input = Shape();
  }
  forward_once(model, input_shape, device);
  std::vector<LayerInput> out;
  for (auto& [name, m] : model.named_modules()) {
    const Shape* input = nullptr;
    if (dynamic_cast<Conv2d*>(m) || dynamic_cast<Linear*>(m)) input = &static_cast<WeightedLayer*>(m)->last_input;
    if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) input = &bn->last_input;
    if (!input) continue;
    TRIM_CHECK(input->ndim() >= 2, cat("layer_inputs: layer '", name, "' did not run in the forward pass"));
    out.push_back({name, m, *input});
  }
  return out;
}

int64_t total_macs(const std::vector<LayerProfile>& layers) {
  int64_t n = 0;
  for (const LayerProfile& l : layers) n += l.macs;
  return n;
}

int64_t total_remaining_macs(const std::vector<LayerProfile>& layers) {
  int64_t n = 0;
  for (const LayerProfile& l : layers) n += l.remaining_macs;
  return n;
}

}  // namespace trim
