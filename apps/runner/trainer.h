#pragma once
// The training loop every app shares: an image classifier trained as a manifest describes, with
// a TrainingMethod (layers/training_method.h) entering through its hooks. Dense training is the
// method with no overrides.
#include <cstdint>
#include <functional>

#include <nlohmann/json.hpp>

#include "apps/runner/manifest.h"
#include "layers/training_method.h"

namespace trim {

struct TrainOptions {
  bool resume = false;  // continue from <output>/checkpoint.safetensors
  // Called after every optimizer step with the step count; returning true abandons the run on the
  // spot, writing nothing more (what a kill does). Tests use it to interrupt runs.
  std::function<bool(int64_t step)> interrupt;
};

// Trains, evaluates and writes the run folder (manifest.json, metrics.jsonl, summary.json,
// model.safetensors, checkpoint.safetensors). Returns the summary (empty if interrupted). Refuses
// an output folder that already holds a checkpoint unless resuming. A non-finite loss or gradient
// stops the run with an error naming the epoch and step; the last checkpoint stays as it was.
nlohmann::json train(const Manifest& manifest, TrainingMethod& method, const TrainOptions& options = {});

// Dense training (trim-train's job).
nlohmann::json train_classifier(const Manifest& manifest, const TrainOptions& options = {});

}  // namespace trim
