#pragma once
// Dense training of an image classifier as a manifest describes it: trim-train's whole job, and
// the loop the pruning apps build on.
#include <cstdint>
#include <functional>

#include <nlohmann/json.hpp>

#include "apps/runner/manifest.h"

namespace trim {

struct TrainOptions {
  bool resume = false;  // continue from <output>/checkpoint.safetensors
  // Called after every optimizer step with the step count; returning true abandons the run on the
  // spot, writing nothing more (what a kill does). Tests use it to interrupt runs.
  std::function<bool(int64_t step)> interrupt;
};

// Trains, evaluates and writes the run folder (manifest.json, metrics.jsonl, summary.json,
// checkpoint.safetensors). Returns the summary (empty if interrupted). Refuses an output folder that
// already holds a checkpoint unless resuming.
nlohmann::json train_classifier(const Manifest& manifest, const TrainOptions& options = {});

}  // namespace trim
