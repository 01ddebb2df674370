#pragma once
// Op-table cases from a zoo model: the distinct conv2d, batch_norm and linear shapes that one
// forward pass of the model runs (layers/profile.h: layer_inputs), each an OpCase built as the
// table builds its rows (apps/bench/op_cases.h), with the first layer of that shape and how many
// layers share it. trim-bench times them (`--shapes resnet50`); scripts/bench_torch.py reads
// them from `trim-bench --list` and times the same cases in PyTorch.
#include <cstdint>
#include <string>
#include <vector>

#include "apps/bench/op_cases.h"

namespace trim::test {

// The cases of zoo model `model` (models/models.h, default options) at `batch` examples of
// `input` ([C, H, W]: the model is built with in_channels C), or of its default input
// (default_input_shape) when `input` is empty, in module order, one per distinct op and shape:
//   "conv2d 64x256x56x56 k1 s1 p0 o64" (input NxCxHxW, kernel, stride, padding, output channels;
//       " d2" and " g32" follow for a dilation or groups other than 1), timed without its bias;
//       the network's first layer, whose input is the image, takes no input gradient;
//   "batch_norm 64x256x56x56" (its input; training mode);
//   "linear 64x2048 o1000" (input N x features, outputs), with a bias when the layer has one.
// A spiking model that folds its T time steps into the batch gives its later layers batch T * batch.
// An unknown model name, or an input the model cannot run, is an error naming `source`.
std::vector<OpCase> zoo_cases(const std::string& model, int64_t batch, const Shape& input, const std::string& source);

}  // namespace trim::test
