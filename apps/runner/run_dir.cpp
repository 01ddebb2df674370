#include "apps/runner/run_dir.h"

#include <filesystem>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/regular_file.h"
#include "core/log.h"

namespace trim {
namespace {

namespace fs = std::filesystem;

// What trim writes into a run folder: the four files every run has, the deployed model, a slimmed
// model (GReg's filter mode), LTP's trail of checkpoints (a folder), trim-deploy's output (a folder) and
// the lock.
const char* const kRunFiles[] = {"manifest.json",     "metrics.jsonl",          "summary.json", "checkpoint.safetensors",
                                 "model.safetensors", "model_slim.safetensors", "model_slim.json", "trail",
                                 "deploy",            kFolderLockName};

// One of trim's files, or the temporary of one ("<file>.tmp-<digits>").
bool is_run_file(const std::string& name) {
  for (const char* f : kRunFiles) {
    const std::string base = f;
    if (name == base) return true;
    const std::string prefix = base + ".tmp-";
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        name.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
      return true;
  }
  return false;
}

}  // namespace

RunDir::RunDir(std::string path, bool writes, bool resume) : path_(std::move(path)), writes_(writes) {
  if (path_.empty()) throw Error("the output folder name is empty; expected a run folder (--set output=...)");
  if (path_exists(path_)) {
    std::error_code ec;
    if (!fs::is_directory(fs::status(path_, ec)))
      throw Error(cat(path_, ": expected a run folder (a directory) as the output, found ", describe_path(path_)));
    fs::directory_iterator it(path_, ec), end;
    if (ec) throw Error(cat(path_, ": cannot list the output folder: ", ec.message()));
    for (; it != end; it.increment(ec)) {
      if (ec) throw Error(cat(path_, ": cannot list the output folder: ", ec.message()));
      const std::string name = it->path().filename().string();
      if (!is_run_file(name))
        throw Error(cat(path_, ": not a run folder: it holds \"", name,
                        "\"; an output folder must be new, empty, or hold only trim's files (manifest.json, "
                        "metrics.jsonl, summary.json, checkpoint.safetensors, model.safetensors, ...); choose another "
                        "output "
                        "(--set output=...)"));
    }
  }
  // A resume never creates the folder it resumes.
  if (resume && !has_checkpoint()) throw Error(checkpoint_path() + ": no checkpoint to resume from");
  // One process per run folder, from here to the end of the run: taken before anything is read
  // that another run could be rewriting, and before anything is written.
  if (writes_) lock_ = std::make_unique<FolderLock>(path_);
  // Pick up earlier metrics (a resumed run continues the same file).
  std::string f = file("metrics.jsonl");
  if (path_exists(f)) {
    std::istringstream in(read_regular_file(f, "metrics file"));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      nlohmann::json j = parse_config_json(line, cat(f, ": line ", n));
      if (!j.is_object())
        throw Error(f + ": line " + std::to_string(n) + " is not a JSON object; move the file away to start afresh");
      metrics_.push_back(j);
    }
  }
}

bool RunDir::has_checkpoint() const { return path_exists(checkpoint_path()); }

void RunDir::remove_stale_temporaries() const {
  if (!writes_) return;
  for (const std::string& name : trim::remove_stale_temporaries(path_))
    log_info(cat(path_, ": removed ", name, ", left by a write that was killed"));
}

void RunDir::write_manifest(const nlohmann::json& manifest) const {
  if (!writes_) return;
  write_file_atomic(file("manifest.json"), manifest.dump(2) + "\n");
}

void RunDir::write_summary(const nlohmann::json& summary) const {
  if (!writes_) return;
  write_file_atomic(file("summary.json"), summary.dump(2) + "\n");
}

void RunDir::write_metrics() const {
  if (!writes_) return;
  std::string text;
  for (const nlohmann::json& j : metrics_) text += j.dump() + "\n";
  write_file_atomic(file("metrics.jsonl"), text);
}

void RunDir::append_metrics(const nlohmann::json& line) {
  metrics_.push_back(line);
  write_metrics();
}

void RunDir::keep_metrics_before(int64_t round, int64_t epoch) {
  std::vector<nlohmann::json> kept;
  for (const nlohmann::json& j : metrics_) {
    if (!j.contains("epoch") || !j["epoch"].is_number_integer()) continue;
    int64_t r = j.contains("round") && j["round"].is_number_integer() ? j["round"].get<int64_t>() : 0;
    int64_t e = j["epoch"].get<int64_t>();
    if (r < round || (r == round && e < epoch)) kept.push_back(j);
  }
  metrics_ = std::move(kept);
  write_metrics();
}

}  // namespace trim
