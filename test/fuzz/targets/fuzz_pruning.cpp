// libFuzzer target: a "pruning" section alone, read as every pruning app reads it
// (read_pruning_settings: the shared keys, then the named method's own, with every bound), then
// finish() (unknown keys). The input is the section's JSON text. Anything but a trim::Error (a
// crash, another exception, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "pruning/method_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    nlohmann::json section = trim::parse_config_json(text, "fuzz.json");
    trim::Config cfg(section, "fuzz.json", "/pruning");
    trim::read_pruning_settings(cfg);
    cfg.finish();
  } catch (const trim::Error&) {
    // The one allowed outcome for bad input.
  }
  return 0;
}
