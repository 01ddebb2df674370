#pragma once
// Checks, before a run writes anything, that the model built from the manifest fits the data.
#include <string>

#include "core/device.h"
#include "data/dataset.h"
#include "layers/module.h"

namespace trim {

// Runs the first example of `data` through `model` (evaluation mode, no gradients, nothing
// trained or drawn from the generator) and checks that the output is [1, K] logits with K at least
// the data's number of classes: a model with num_classes below the labels would train on NaN
// losses, and one whose input options do not match the images would fail mid-epoch. Throws one
// trim::Error naming `source` and the model's JSON path ("/model" or "/model/num_classes").
// The same forward, with the autograd graph kept, measures the activation memory of one example;
// on the CPU a training batch of `batch_size` examples whose estimate (activations, their
// gradients and a spare: 3x) exceeds the machine's memory is refused, naming /data/batch_size,
// instead of failing on an allocation mid-epoch.
void check_model_fits_data(Module& model, const Dataset& data, Device device, int64_t batch_size,
                           const std::string& source);

}  // namespace trim
