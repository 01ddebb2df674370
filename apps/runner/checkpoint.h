#pragma once
// Training checkpoints: model, optimizer, random-generator state and where training stands, in
// one safetensors file written atomically. Restoring one and training on reproduces the run that
// was interrupted (same device and thread count).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

// What the run being resumed allows; a checkpoint whose progress falls outside it is refused.
struct ResumeBounds {
  int64_t epochs = 0;              // the manifest's train.epochs
  int64_t batches_per_epoch = 0;   // of the training loader
  int64_t examples_per_epoch = 0;  // of the training loader
};

// A checkpoint read whole into memory and checked, not yet applied.
struct CheckpointData {
  std::vector<std::pair<std::string, Tensor>> model_state;
  std::vector<std::pair<std::string, Tensor>> optim_state;  // in the optimizer's order
  TrainProgress progress;
  uint64_t rng_seed = 0, rng_offset = 0;
  std::string manifest;
};

// Reads the checkpoint at `path` (a regular file) and checks all of it before anything is applied
// or written: the format, the data checksum (required), every model and optimizer tensor against
// `model` and `optimizer` (names, shapes, dtypes; nothing missing, nothing extra), and every
// progress field: integers in range, finite non-negative sums, correct <= seen and, with `bounds`,
// epoch in [0, epochs] (epochs itself only for a finished run, batch 0), batch in
// [0, batches_per_epoch], seen <= examples_per_epoch and a step count that cannot overflow over
// the remaining epochs. Throws one trim::Error naming the file and the entry.
CheckpointData read_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                               const ResumeBounds* bounds = nullptr);

// Copies a checked checkpoint into the model, the optimizer and the generator (cannot fail).
void apply_checkpoint(const CheckpointData& data, Module& model, SgdBase& optimizer, Generator& generator);

// read_checkpoint, then apply_checkpoint. Returns the progress; `manifest` receives the manifest
// it was written with.
TrainProgress load_checkpoint(const std::string& path, Module& model, SgdBase& optimizer, Generator& generator,
                              std::string* manifest = nullptr, const ResumeBounds* bounds = nullptr);

}  // namespace trim
