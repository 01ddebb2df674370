#pragma once
// Evaluation of a classifier over a whole data set, in evaluation mode and without autograd.
#include <cstdint>

#include "core/comm/communicator.h"
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

// The same over a data set of `dataset_size` examples sharded over the ranks of `comm` (the loader
// holds this rank's shard): each rank evaluates its shard without the wrap-around padding that
// evens the shards out, and the sums are reduced, so every rank gets the metrics of the whole set,
// each example counted once (equal to evaluate() on one process up to summation order).
Eval evaluate_sharded(Module& model, DataLoader& loader, const ChannelAffine& norm, Device device,
                      int64_t dataset_size, comm::Communicator& comm);

}  // namespace trim
