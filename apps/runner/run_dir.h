#pragma once
// A run's output folder: the manifest as run, metrics.jsonl (one line per epoch), summary.json and
// the checkpoint. Every file is replaced atomically, so a killed run never leaves a torn file.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trim {

class RunDir {
 public:
  explicit RunDir(std::string path);  // creates the folder

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoint_path() const { return file("checkpoint.safetensors"); }

  void write_manifest(const nlohmann::json& manifest) const;
  void write_summary(const nlohmann::json& summary) const;
  // Adds one line to metrics.jsonl (rewriting the file atomically).
  void append_metrics(const nlohmann::json& line);
  // Keeps only the lines of epochs before (round, epoch), by their "round" (0 when absent) and
  // "epoch" keys (when resuming from a checkpoint).
  void keep_metrics_before(int64_t round, int64_t epoch);
  const std::vector<nlohmann::json>& metrics() const { return metrics_; }

 private:
  void write_metrics() const;
  std::string path_;
  std::vector<nlohmann::json> metrics_;
};

}  // namespace trim
