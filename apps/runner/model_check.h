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
void check_model_fits_data(Module& model, const Dataset& data, Device device, const std::string& source);

}  // namespace trim
