#pragma once
// Small training runs for end-to-end tests (CPU and CUDA).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/runner/manifest.h"
#include "apps/runner/trainer.h"

namespace trim::test {

// A 2-epoch cnn_small run on 2000 Fashion-MNIST images (500 for testing) writing to `output`.
nlohmann::json small_run(const std::string& output, const std::string& device = "cpu");
Manifest as_manifest(const nlohmann::json& j);
// A 2-epoch MLP [32, 16] run on 600 images (300 for testing) in batches of 100 (6 steps per epoch)
// with `pruning`, writing to `output`.
nlohmann::json mlp_run(const std::string& output, const nlohmann::json& pruning);
// Trains manifest `j` with the method its "pruning" object names, as the pruning apps do.
nlohmann::json run_method(const nlohmann::json& j, const TrainOptions& options = {});
// The run's metrics.jsonl lines without the timing fields (seconds, img/s, peak memory).
std::vector<nlohmann::json> metrics_without_timing(const std::string& run_dir);
// True when both safetensors files hold bit-identical f32 tensors with the same names.
bool same_tensors(const std::string& file_a, const std::string& file_b);
// same_tensors on both runs' checkpoint.safetensors.
bool same_checkpoint_weights(const std::string& run_a, const std::string& run_b);
// small_run on `device` (cnn_small with dropout; 650 training images per epoch: 6 batches of 100,
// then a short one of 50; 250 for testing) trained twice: into dir/eager as it is, then into
// dir/graphed with "cuda": {"graph": true}. Returns what the second run wrote to stderr.
std::string train_eager_and_graphed(const std::string& dir, const std::string& device);

}  // namespace trim::test
