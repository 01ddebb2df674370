#pragma once
// Training checkpoints: model, optimizer, random-generator state and where training stands, in
// one safetensors file written atomically. Restoring one and training on reproduces the run that
// was interrupted (same device and thread count).
#include <cstdint>
#include <string>

#include "core/optim/sgd.h"
#include "core/random/generator.h"
#include "layers/module.h"

namespace trim {

struct TrainProgress {
  int64_t epoch = 0;      // the epoch in progress (or the next to start)
  int64_t batch = 0;      // batches of `epoch` already trained
  int64_t step = 0;       // optimizer steps so far
  double loss_sum = 0.0;  // running train metrics of `epoch`
  int64_t correct = 0;
  int64_t seen = 0;
  double seconds = 0.0;   // training time so far, over all sessions
};

// Tensors: "model.<name>" for every parameter and buffer, "optim.<name>" for optimizer state.
// Metadata: "trim.format" = "1", progress fields as "trim.<field>", the generator as
// "trim.rng.seed"/"trim.rng.offset", and `manifest` (the manifest as run) as "trim.manifest".
void save_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                     const Generator& generator, const TrainProgress& progress, const std::string& manifest);

// Restores everything save_checkpoint wrote; throws trim::Error naming the file and the missing or
// mismatching entry. Returns the progress; `manifest` receives the manifest it was written with.
TrainProgress load_checkpoint(const std::string& path, Module& model, SgdBase& optimizer, Generator& generator,
                              std::string* manifest = nullptr);

}  // namespace trim
