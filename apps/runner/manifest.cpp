#include "apps/runner/manifest.h"

#include "core/config.h"
#include "core/error.h"
#include "core/io/regular_file.h"
#include "core/text.h"

namespace trim {
namespace {

// An override's key has at most this many segments: with the value's own nesting it stays within
// kMaxConfigDepth.
constexpr int kMaxOverrideSegments = 8;
// A manifest is a few kilobytes; the bound refuses a wrong file (a dataset, a checkpoint) at once.
constexpr size_t kMaxManifestBytes = 16u << 20;

void apply_override(nlohmann::json& root, const std::string& text, const std::string& file) {
  const std::string shown = "--set " + quote(text, 80);
  size_t bad = invalid_utf8_at(text);
  if (bad != std::string::npos)
    throw Error(cat(shown, ": invalid UTF-8 at byte ", bad, "; expected key=value in UTF-8"));
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(shown + ": expected key=value, e.g. --set optimizer.lr=0.05");
  std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  // The value is JSON when it is valid JSON (then held to the manifest's rules), else a string.
  nlohmann::json parsed = nlohmann::json::accept(value) ? parse_config_json(value, shown) : nlohmann::json(value);
  nlohmann::json* node = &root;
  std::string walked;
  size_t start = 0;
  for (int segment = 1;; ++segment) {
    if (segment > kMaxOverrideSegments)
      throw Error(cat(shown, ": the key has more than ", kMaxOverrideSegments, " segments; expected a manifest key"));
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error(shown + ": empty key segment in " + quote(key, 80));
    walked += "/" + part;
    if (dot == std::string::npos) {
      if (segment + json_depth(parsed) > kMaxConfigDepth)
        throw Error(cat(shown, ": the value nests too deep at ", walked, "; expected at most ", kMaxConfigDepth,
                        " levels in all"));
      (*node)[part] = std::move(parsed);
      return;
    }
    nlohmann::json& next = (*node)[part];
    if (next.is_null()) next = nlohmann::json::object();
    if (!next.is_object())
      throw Error(shown + ": " + file + " has " + describe_json(next) + " at " + walked + ", not an object");
    node = &next;
    start = dot + 1;
  }
}

}  // namespace

Manifest parse_manifest(const std::string& text, const std::string& path, const std::vector<std::string>& overrides) {
  Manifest m;
  m.path = path;
  m.json = parse_config_json(text, path);
  if (!m.json.is_object()) throw Error(path + ": expected a JSON object at the top level, found " + describe_json(m.json));
  for (const std::string& o : overrides) apply_override(m.json, o, path);
  m.source = overrides.empty() ? path : path + " (with --set overrides)";
  return m;
}

Manifest load_manifest(const std::string& path, const std::vector<std::string>& overrides) {
  std::string text = read_regular_file(path, "manifest");
  if (text.size() > kMaxManifestBytes)
    throw Error(cat(path, ": the manifest is ", text.size(), " bytes; expected a JSON manifest of at most ",
                    kMaxManifestBytes, " bytes"));
  return parse_manifest(text, path, overrides);
}

}  // namespace trim
