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
// Parameters are created on the CPU from the default generator (seed it first).
std::shared_ptr<Module> build_model(const Config& spec);
std::vector<std::string> model_names();

}  // namespace trim
