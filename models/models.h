#pragma once
// The model zoo, built by name from a JSON spec (see build_model).
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "layers/module.h"

namespace trim {

// Builds the model named spec["name"]; every other key is that model's option and unknown keys
// are errors (the caller calls spec.finish()). Models:
//   "mlp"       {in_features: 784, hidden: [128, 256], num_classes: 10}
//               Flatten, then Linear+ReLU per hidden width, then Linear (SAP's MLP). Linear biases 0.
//   "sap_cnn"   {in_channels: 1, widths: [64, 128, 256, 512], num_classes: 10}
//               SAP's CNN: per width conv3x3(pad 1, bias)+BN+ReLU, max-pool 2 after all but the
//               last, global average pool, Linear. Convs kaiming-normal (fan_out), Linear bias 0.
//   "cnn_small" {in_channels: 1, image_size: 28, widths: [32, 64], hidden: 128, dropout: 0.0, num_classes: 10}
//               the fast default: per width conv3x3(pad 1, no bias)+BN+ReLU+max-pool 2, Flatten,
//               Linear(hidden)+ReLU(+Dropout), Linear. Convs kaiming-normal (fan_in).
// Every option is bounded (channels and widths 1..65536, features 1..2^24, classes 1..2^20, at
// most 64 layers, dropout in [0, 1)) and refused with its JSON path ("/model/num_classes: expected
// an integer in [1, 1048576], found 0"); a model whose parameters, with gradients and optimizer
// state, exceed the machine's memory is refused before anything is allocated.
// Spiking models (specs/spiking.md). Besides their own keys they take the neuron keys of
// spiking/README.md (neuron, tau, decay_input, v_threshold, v_reset, detach_reset, surrogate,
// alpha) with SEW ResNet's IF neuron as the default: {neuron: "if", detach_reset: true,
// surrogate: "atan"} (alpha 2, V_th 1, V_reset 0). Input [N, C, H, W]; direct encoding (the first
// conv + BN see the image once, then it is repeated T times); later layers fold T into the batch
// (BN statistics over T·N); logits [N, classes] from the mean over T. Their training forward passes
// record per-layer firing rates (spiking/firing_rates.h).
//   "sew_resnet18" {T: 4, connect: "add", num_classes: 1000, in_channels: 3, zero_init_residual: false, neuron keys}
//   "sew_resnet34" the same with [3, 4, 6, 3] blocks (models/sew_resnet.h). connect: "add" | "and" |
//               "iand" (any case). ImageNet shapes: conv7x7/2 + BN + SN + max-pool 3x3/2, 4 stages of
//               SEW basic blocks (64..512), global average pool, mean over T, fc. SpikingJelly's names.
//   "spiking_cnn" {in_channels: 1, image_size: 28, widths: [32, 64], hidden: 0, num_classes: 10, T: 4,
//                encoder_pool: false, neuron keys}
//               per width conv3x3(pad 1, no bias)+BN+SN+max-pool 2 (the first conv + BN once, before
//               the repeat; with encoder_pool also the first max-pool, before the first SN), Flatten,
//               with hidden > 0 Linear(hidden, no bias)+BN+SN, mean over T, Linear. Convs
//               kaiming-normal (fan_out).
// Parameters are created on the CPU from the default generator (seed it first).
std::shared_ptr<Module> build_model(const Config& spec);
std::vector<std::string> model_names();

}  // namespace trim
