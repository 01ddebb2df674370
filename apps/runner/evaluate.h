#pragma once
// Evaluation of a classifier over a whole data set, in evaluation mode and without autograd.
#include "core/kernels/params.h"
#include "data/loader.h"
#include "layers/module.h"

namespace trim {

struct Eval {
  double loss = 0.0, accuracy = 0.0;
};

// Mean cross-entropy and accuracy over every batch of `loader` (epoch 0, in order); images are
// normalised with `norm`. Leaves the model in training mode.
Eval evaluate(Module& model, DataLoader& loader, const ChannelAffine& norm, Device device);

}  // namespace trim
