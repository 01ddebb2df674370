#pragma once
// Strict reading of JSON configuration (manifests, model specs). Every read names its JSON path,
// so an error reads "manifest.json: /optimizer/lr: expected a number, found a string (\"0.1\")".
// finish() refuses keys that were never read: a misspelt key is an error, not a silent default.
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trim {

class Config {
 public:
  // `node` must outlive the Config. `source` names the file (or "--set") for messages.
  Config(const nlohmann::json& node, std::string source, std::string path = "");

  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }
  bool has(const std::string& key) const;

  // Required values (error if absent) and optional ones (fallback if absent). Supported T: bool,
  // int, int64_t, uint64_t, float, double, std::string, std::vector<int64_t>, std::vector<float>.
  template <class T> T get(const std::string& key) const;
  template <class T> T get(const std::string& key, const T& fallback) const;
  // A string that must be one of `choices`.
  std::string choice(const std::string& key, const std::vector<std::string>& choices, const std::string& fallback) const;

  // A nested object (required, or an empty object when absent and `optional`).
  Config child(const std::string& key, bool optional = false) const;
  const nlohmann::json& json() const { return node_; }

  // Marks a key as known without reading it (for keys read elsewhere).
  void accept(const std::string& key) const { read_->insert(key); }
  // Throws if the object holds a key that was never read or accepted; also checks children read
  // through child().
  void finish() const;

  // Throws trim::Error "<source>: <path>/<key>: <what>".
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

 private:
  const nlohmann::json* find(const std::string& key) const;
  const nlohmann::json& node_;
  std::string source_, path_;
  std::shared_ptr<std::set<std::string>> read_;
  std::shared_ptr<std::vector<Config>> children_;
};

// "a number", "a string (\"x\")", ... for messages.
std::string describe_json(const nlohmann::json& v);

}  // namespace trim
