#pragma once
// Manifests: one JSON file per run, plus command-line overrides.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trim {

struct Manifest {
  nlohmann::json json;
  std::string path;    // the file
  std::string source;  // how errors name it: the file name, noting --set overrides when any were given
};

// Reads `path` and applies each override "a.b.c=value" (value parsed as JSON when it is valid JSON,
// else taken as a string: --set device=cpu, --set optimizer.lr=0.05). Throws trim::Error for a
// missing or unreadable file, invalid JSON (with line and column), a non-object top level, or a
// malformed override.
Manifest load_manifest(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace trim
