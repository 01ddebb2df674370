#pragma once
// Training checkpoints: model, optimizer state, the training method's state, random-generator
// state and where training stands, in one safetensors file written atomically. Restoring one and
// training on reproduces the run that was interrupted (same device and thread count).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/runner/train_metrics.h"
#include "core/optim/sgd.h"
#include "core/random/generator.h"
#include "layers/module.h"
#include "pruning/training_method.h"

namespace trim {

struct TrainProgress {
  int64_t round = 0;      // the round in progress (or the next to start)
  int64_t epoch = 0;      // the epoch of that round in progress (or the next to start)
  int64_t batch = 0;      // batches of `epoch` already trained
  int64_t step = 0;       // optimizer steps so far, over all rounds
  MetricTotals metrics;   // running train metrics of `epoch` (the job's sums)
  double seconds = 0.0;   // training time so far, over all sessions
};

// How the run that wrote a checkpoint divided its data: ranks, and examples per step over all of
// them (0: unknown, a checkpoint from before these keys).
struct DataParallelShape {
  int64_t world_size = 1;
  int64_t global_batch = 0;
};

// A checkpoint read into memory and checked for form, not yet applied to anything.
struct Checkpoint {
  std::string path;
  TrainProgress progress;
  uint64_t rng_seed = 0, rng_offset = 0;
  std::string manifest;       // the manifest it was written with
  nlohmann::json method;      // the method's JSON state (null when it has none)
  std::string method_name;
  DataParallelShape shape;  // "trim.world_size", "trim.global_batch" (absent: 1 rank, unknown batch)
  std::vector<std::pair<std::string, Tensor>> model;  // "model.<name>" without the prefix
  std::map<std::string, Tensor> optim, method_tensors;
};

// Tensors: "model.<name>" for every parameter and buffer, "optim.<name>" for optimizer state,
// "method.<name>" for the method's tensors. Metadata: "trim.format" = "1", progress fields as
// "trim.<field>", the generator as "trim.rng.seed"/"trim.rng.offset", the manifest as run as
// "trim.manifest", the method as "trim.method.name" and its JSON state as "trim.method".
void save_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                     const TrainingMethod& method, const Generator& generator, const TrainProgress& progress,
                     const std::string& manifest, const DataParallelShape& shape = {});

// Reads the whole file and checks its form before anything is applied or written: a regular file,
// the data checksum (required), the format, tensor name prefixes, integers in range, finite
// non-negative sums, correct <= seen. Throws one trim::Error naming the file and the entry.
Checkpoint read_checkpoint(const std::string& path);

// What the run being resumed allows; a checkpoint whose progress falls outside it is refused.
struct ResumeBounds {
  std::string method_name;         // the run's training method (TrainingMethod::name)
  int64_t rounds = 1;
  std::vector<int64_t> epochs;     // per round
  int64_t batches_per_epoch = 0;   // of the training loader
  int64_t examples_per_epoch = 0;  // of the training loader
};

// Checks `ck` against `bounds`: the method that wrote it, then its progress: round in [0, rounds] (rounds itself only for a
// finished run, at epoch 0 and batch 0), epoch and batch inside their round, seen within an epoch,
// and a step count that cannot overflow over the steps still to come. Throws trim::Error naming
// the file and the metadata key.
void check_progress(const Checkpoint& ck, const ResumeBounds& bounds);

// Checks every tensor of `ck` against the model, optimizer and method first (names, shapes,
// dtypes; nothing missing, nothing extra) and only then copies them in, so a mismatch leaves
// everything untouched. Restores the generator and the method's JSON state. The method's name is
// checked once, by check_progress, which comes first.
void apply_checkpoint(const Checkpoint& ck, Module& model, SgdBase& optimizer, TrainingMethod& method,
                      Generator& generator);

}  // namespace trim
