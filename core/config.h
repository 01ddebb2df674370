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

#include "core/text.h"  // quoted, invalid_utf8_at: every reader of settings shows values with them

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
  // Bounded values: the constraint is named where the key is read, and the message says it:
  // "/data/batch_size: expected an integer in [1, 1048576], found a number (0)".
  int64_t int_in(const std::string& key, int64_t lo, int64_t hi) const;
  int64_t int_in(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) const;
  // Finite numbers in an interval; open ends are excluded ("(0, 1000]").
  struct Interval {
    double lo, hi;
    bool lo_open = false, hi_open = false;
    bool contains(double x) const;
    std::string str() const;
  };
  double real_in(const std::string& key, const Interval& range) const;
  double real_in(const std::string& key, double fallback, const Interval& range) const;
  // A setting the code uses as a 32-bit float: read, rounded to float, and the float checked
  // against `range`, so a value that passes only in double is refused ("momentum" 0.9999999999
  // rounds to 1.0f and is outside [0, 1)); also refused: magnitudes beyond the float range, and
  // a nonzero value that rounds to 0 when 0 is outside `range`. Every float setting is read
  // through it (never float(real_in(...))).
  float float_in(const std::string& key, const Interval& range) const;
  float float_in(const std::string& key, float fallback, const Interval& range) const;
  // Arrays of at most max_size bounded entries.
  std::vector<int64_t> ints_in(const std::string& key, const std::vector<int64_t>& fallback, int64_t lo, int64_t hi,
                               size_t max_size) const;
  std::vector<float> reals_in(const std::string& key, const std::vector<float>& fallback, const Interval& range,
                              size_t max_size) const;  // checked as the floats they become
  // An array of bounded integers in strictly increasing order (milestones, step lists).
  std::vector<int64_t> increasing_ints_in(const std::string& key, const std::vector<int64_t>& fallback, int64_t lo,
                                          int64_t hi, size_t max_size) const;

  // A name or a path: a string of at most `max_bytes` bytes without control characters (a NUL would
  // cut the name the system sees, a newline split messages); a refused value is shown through
  // quote(), escaped and cut. kMaxPathBytes suits file and folder names.
  std::string text_in(const std::string& key, size_t max_bytes) const;
  std::string text_in(const std::string& key, const std::string& fallback, size_t max_bytes) const;
  static constexpr size_t kMaxPathBytes = 4096;  // PATH_MAX

  // A string that must be one of `choices` (a wrong value is shown through quote()).
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

// "a number", "a string (\"x\")", ... for messages (never throws, also for invalid UTF-8).
std::string describe_json(const nlohmann::json& v);

// Nesting limit of every configuration value (manifests, --set values, model specs): real
// manifests nest 3 levels; the bound keeps hostile input from overflowing the stack of code that
// walks values recursively (dump, comparisons, messages).
constexpr int kMaxConfigDepth = 32;

// Parses `text` as strict JSON: refuses invalid syntax and invalid UTF-8 (with line, column and
// byte offset), numbers outside the double range, duplicate keys in an object and nesting deeper
// than `max_depth` (with the JSON path). Every failure is one trim::Error starting "<source>: ".
nlohmann::json parse_config_json(const std::string& text, const std::string& source,
                                 int max_depth = kMaxConfigDepth);

// Nesting depth of a value: 0 for a scalar, 1 for [] or {}, ... (iterative; never overflows).
int json_depth(const nlohmann::json& v);

}  // namespace trim
