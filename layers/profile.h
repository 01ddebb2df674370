#pragma once
// Per-layer profile of a model: output shapes, parameters and multiply-accumulates (MACs) of its
// conv and linear layers, measured by one forward pass without autograd. MACs count the products
// of convolutions and linear layers per example, as torchvision's and the pruning papers' figures
// do (ResNet-50 at 224x224: 4.09 G); a pruned weight (an exact zero) costs nothing.
#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace trim {

struct LayerProfile {
  std::string name;    // the layer's module name ("layer1.0.conv1")
  std::string kind;    // "conv" | "linear"
  Shape output;        // per example: the forward's output shape without the batch dimension
  int64_t parameters = 0;       // weight and bias elements
  int64_t macs = 0;             // dense: uses_per_weight * weight elements
  int64_t remaining_macs = 0;   // uses_per_weight * nonzero weight elements
};

// Runs one evaluation-mode forward pass of `input_shape` ([C, H, W] or [features]; a batch of one,
// zeros, on the model's device) and profiles every conv and linear layer, in module order.
std::vector<LayerProfile> profile_layers(Module& model, const Shape& input_shape, Device device);

// One conv, batch-norm or linear layer as a forward pass called it: its module name, the module
// (owned by the model) and the shape of its input, batch dimension included.
struct LayerInput {
  std::string name;
  Module* module = nullptr;  // a Conv2d, BatchNorm2d or Linear
  Shape input;
};

// Runs one evaluation-mode forward pass of `input_shape` as profile_layers does and lists every
// Conv2d, BatchNorm2d and Linear layer with its input, in module order. The batch dimension of an
// input is 1, or T where a spiking model folds its T time steps into the batch. A layer the pass
// did not reach is an error; a layer called twice shows its last call.
std::vector<LayerInput> layer_inputs(Module& model, const Shape& input_shape, Device device);

// Sums of the layers' macs and remaining_macs.
int64_t total_macs(const std::vector<LayerProfile>& layers);
int64_t total_remaining_macs(const std::vector<LayerProfile>& layers);

}  // namespace trim
