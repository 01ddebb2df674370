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

// Reads `path` (a regular file: a FIFO or a folder is refused) and applies each override
// "a.b.c=value" (value parsed as JSON when it is valid JSON, else taken as a string:
// --set device=cpu, --set optimizer.lr=0.05). The text is strict JSON (parse_config_json: UTF-8,
// no duplicate keys, finite numbers, nesting within kMaxConfigDepth), and so is every override
// (its text must be UTF-8; its key has at most 8 segments). Throws trim::Error for a missing or
// unreadable file, invalid JSON (with line, column and byte), a non-object top level, or a
// malformed override. Values are checked against their constraints by parse_run_config.
Manifest load_manifest(const std::string& path, const std::vector<std::string>& overrides);

// The same from the manifest's text (`path` names it in messages): what load_manifest does after
// reading the file, and what the fuzz target drives.
Manifest parse_manifest(const std::string& text, const std::string& path, const std::vector<std::string>& overrides);

}  // namespace trim
