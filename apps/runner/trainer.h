#pragma once
// The training loop every app shares: an image classifier trained as a manifest describes, with
// a TrainingMethod (layers/training_method.h) entering through its hooks. Dense training is the
// method with no overrides.
#include <cstdint>
#include <functional>

#include <nlohmann/json.hpp>

#include "apps/runner/manifest.h"
#include "core/dist/communicator.h"
#include "layers/training_method.h"

namespace trim {

struct TrainOptions {
  bool resume = false;  // continue from <output>/checkpoint.safetensors
  // Called after every optimizer step with the step count; returning true abandons the run on the
  // spot, writing nothing more (what a kill does). Tests use it to interrupt runs.
  std::function<bool(int64_t step)> interrupt;
  // Called after every optimizer step with the step count and this rank's loss of that step
  // (synchronises: tests only).
  std::function<void(int64_t step, double loss)> on_step;
  // The ranks to train over; null: the job's own (dist::make_communicator: one process, or every
  // rank of an mpirun job). Tests pass a single-process communicator to train a reference inside
  // an MPI job.
  dist::Communicator* comm = nullptr;
};

// Trains, evaluates and writes the run folder (manifest.json, metrics.jsonl, summary.json,
// model.safetensors, checkpoint.safetensors). Returns the summary (empty if interrupted, also by
// SIGTERM once install_termination_handler() is in place: a checkpoint of where training stood is
// written first). Under several ranks every rank trains its shard (data parallel, see
// apps/runner/data_parallel.h), rank 0 alone writes the folder, and every rank returns the same
// summary (world_size and global_batch_size included). Refuses
// an output folder that already holds a checkpoint unless resuming. A non-finite loss or gradient
// stops the run with an error naming the epoch and step; the last checkpoint stays as it was.
nlohmann::json train(const Manifest& manifest, TrainingMethod& method, const TrainOptions& options = {});

// Dense training (trim-train's job).
nlohmann::json train_classifier(const Manifest& manifest, const TrainOptions& options = {});

}  // namespace trim
