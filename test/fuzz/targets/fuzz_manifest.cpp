// libFuzzer target: a manifest and its --set overrides through the one parser every app uses
// (parse_manifest, then parse_run_config), and its "pruning" section as the pruning apps read it
// (read_pruning_settings). The input is the manifest text, then up to 8 overrides,
// separated by NUL bytes. Anything but a trim::Error (a crash, another exception, a sanitizer
// report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/runner/manifest.h"
#include "apps/runner/run_config.h"
#include "core/config.h"
#include "core/error.h"
#include "pruning/method_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() < 9) {
    size_t nul = input.find('\0', start);
    parts.push_back(input.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  const std::vector<std::string> sets(parts.begin() + 1, parts.end());
  try {
    trim::Manifest m = trim::parse_manifest(parts[0], "fuzz.json", sets);
    // What the trainer does with an accepted manifest: dump it (it must be valid UTF-8, not too
    // deep) and describe values in messages.
    (void)m.json.dump();
    (void)trim::describe_json(m.json);
    trim::RunConfig r = trim::parse_run_config(m);
    if (!(r.sgd.lr > 0.0f) || r.epochs < 1 || r.data.batch_size < 1) __builtin_trap();  // accepted out of range
    trim::Config model(r.model, m.source, "/model");
    (void)model.get<std::string>("name", "");
    if (r.method.is_object()) {  // what make_training_method reads, without building the method
      trim::Config pruning(r.method, m.source, "/pruning");
      trim::read_pruning_settings(pruning);
      pruning.finish();
    }
  } catch (const trim::Error&) {
    // The one allowed outcome for bad input.
  }
  return 0;
}
