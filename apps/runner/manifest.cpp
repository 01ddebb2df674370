#include "apps/runner/manifest.h"

#include <fstream>
#include <sstream>

#include "core/config.h"
#include "core/error.h"

namespace trim {
namespace {

// 1-based line and column of byte offset `pos` in `text`.
std::string line_col(const std::string& text, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

void apply_override(nlohmann::json& root, const std::string& text, const std::string& file) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set " + text + ": expected key=value, e.g. --set optimizer.lr=0.05");
  std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  nlohmann::json* node = &root;
  std::string walked;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error("--set " + text + ": empty key segment in \"" + key + "\"");
    walked += "/" + part;
    if (dot == std::string::npos) {
      nlohmann::json parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
      (*node)[part] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
      return;
    }
    nlohmann::json& next = (*node)[part];
    if (next.is_null()) next = nlohmann::json::object();
    if (!next.is_object())
      throw Error("--set " + text + ": " + file + " has " + describe_json(next) + " at " + walked + ", not an object");
    node = &next;
    start = dot + 1;
  }
}

}  // namespace

Manifest load_manifest(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the manifest (no such file, or not readable)");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  Manifest m;
  m.path = path;
  try {
    m.json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    auto colon = what.find("]: ");  // drop nlohmann's "[json.exception.parse_error.101] parse error at ..."
    throw Error(path + ": invalid JSON at " + line_col(text, e.byte ? e.byte - 1 : 0) + ": " +
                (colon == std::string::npos ? what : what.substr(colon + 3)));
  }
  if (!m.json.is_object()) throw Error(path + ": expected a JSON object at the top level, found " + describe_json(m.json));
  for (const std::string& o : overrides) apply_override(m.json, o, path);
  m.source = overrides.empty() ? path : path + " (with --set overrides)";
  return m;
}

}  // namespace trim
