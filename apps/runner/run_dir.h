#pragma once
// A run's output folder: the manifest as run, metrics.jsonl (one line per epoch), summary.json and
// the checkpoint. Every file is replaced atomically, so a killed run never leaves a torn file.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/folder_lock.h"

namespace trim {

class RunDir {
 public:
  // Checks, without writing anything, that `path` is a run folder: absent, or a directory that is
  // empty or holds only trim's files (manifest.json, metrics.jsonl, summary.json,
  // checkpoint.safetensors, .lock and their ".tmp-<pid>" temporaries); then takes the folder's
  // lock for as long as the RunDir lives (core/io/folder_lock.h: it creates the folder and
  // ".lock"; another process holding it is refused at once, naming its pid), and reads
  // metrics.jsonl when present. Throws trim::Error naming the path and what was found (output=/
  // or a folder of other files is refused, so trim never writes into it).
  // writes = false (ranks other than 0 of a data-parallel job): the same checks and the same
  // in-memory metrics, but no lock and every write skipped (rank 0 alone locks and writes).
  // resume = true: a folder without a checkpoint is refused before the lock would create it.
  explicit RunDir(std::string path, bool writes = true, bool resume = false);
  bool writes() const { return writes_; }

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoint_path() const { return file("checkpoint.safetensors"); }
  // Whether the folder holds a checkpoint entry (of any kind: the reader refuses all but files).
  bool has_checkpoint() const;

  // Removes the temporaries of killed writers (see remove_stale_temporaries); call once the run is
  // known to start, so that a refused start leaves the folder as it was.
  void remove_stale_temporaries() const;

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
  bool writes_ = true;
  std::unique_ptr<FolderLock> lock_;  // rank 0's
  std::vector<nlohmann::json> metrics_;
};

}  // namespace trim
