#pragma once
// A whole training run as a manifest describes it, on the training loop (apps/runner/loop.h): set
// up, resume, fit, finalize, and the run folder written. What the apps call; a TrainingMethod
// (pruning/training_method.h) enters through its hooks. Dense training is the method with no overrides.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/runner/loop.h"
#include "apps/runner/manifest.h"
#include "apps/runner/run_config.h"
#include "core/comm/communicator.h"
#include "pruning/training_method.h"

namespace trim {

struct TrainOptions {
  bool resume = false;  // continue from <output>/checkpoint.safetensors
  // With resume: continue even on training data that differs from the checkpoint's (a warning
  // instead of the refusal; the --resume-data-changed flag).
  bool resume_data_changed = false;
  // Step callbacks, run after every optimizer step before the run's own (SIGTERM, progress,
  // checkpoint cadence; apps/runner/step_callbacks.h), in the order of these fields.
  // Called after every optimizer step with the step count and this rank's loss of that step
  // (synchronises: tests only).
  std::function<void(int64_t step, double loss)> on_step;
  // Called after every optimizer step with the step count; returning true abandons the run on the
  // spot, writing nothing more (what a kill does). Tests use it to interrupt runs.
  std::function<bool(int64_t step)> interrupt;
  // Further callbacks, after on_step and interrupt.
  std::vector<StepCallback> step_callbacks;
  // The ranks to train over; null: the job's own (comm::make_communicator: one process, or every
  // rank of an mpirun job). Tests pass a single-process communicator to train a reference inside
  // an MPI job.
  comm::Communicator* comm = nullptr;
};

// Trains, evaluates and writes the run folder (manifest.json, metrics.jsonl, summary.json,
// model.safetensors, checkpoint.safetensors). Returns the summary (empty if interrupted, also by
// SIGTERM or SIGINT once install_termination_handler() is in place: a checkpoint of where training
// stood is written first). The run holds its output folder's lock (RunDir) from before anything is
// read or written there to its return. Under several ranks every rank trains its shard (data parallel, see
// core/comm/gradient_reducer.h and apps/runner/data_parallel.h), rank 0 alone writes the folder,
// and every rank returns the same summary (world_size and global_batch_size included). Refuses
// an output folder that already holds a checkpoint unless resuming. A non-finite loss or gradient
// stops the run with an error naming the epoch and step; the last checkpoint stays as it was.
nlohmann::json train(const Manifest& manifest, const RunConfig& cfg, TrainingMethod& method,
                     const TrainOptions& options = {});
// The same, parsing `manifest` first (parse_run_config).
nlohmann::json train(const Manifest& manifest, TrainingMethod& method, const TrainOptions& options = {});

// The training method a manifest asks for: with an app's method `family`, the one its /pruning
// section names (required); with none, dense training, which refuses a /pruning section. The one
// check of /pruning; throws trim::Error naming the manifest.
std::unique_ptr<TrainingMethod> make_training_method(const Manifest& manifest, const RunConfig& cfg,
                                                     const std::vector<std::string>& family);

// Dense training (trim-train's job).
nlohmann::json train_classifier(const Manifest& manifest, const TrainOptions& options = {});

}  // namespace trim
