#include "apps/runner/run_dir.h"

#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace trim {

RunDir::RunDir(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  if (ec) throw Error(path_ + ": cannot create the output folder: " + ec.message());
  // Pick up earlier metrics (a resumed run continues the same file).
  std::string f = file("metrics.jsonl");
  if (std::filesystem::exists(f)) {
    std::istringstream in(read_file(f));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        throw Error(f + ": line " + std::to_string(n) + " is not a JSON object; move the file away to start afresh");
      metrics_.push_back(j);
    }
  }
}

void RunDir::write_manifest(const nlohmann::json& manifest) const {
  write_file_atomic(file("manifest.json"), manifest.dump(2) + "\n");
}

void RunDir::write_summary(const nlohmann::json& summary) const {
  write_file_atomic(file("summary.json"), summary.dump(2) + "\n");
}

void RunDir::write_metrics() const {
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
