// libFuzzer target: a whole safetensors file through the reader's validation (length, header,
// layout, checksum; check_safetensors_bytes is what load_safetensors checks before it copies the
// tensor data). Anything but a trim::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "core/io/safetensors_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    trim::SafetensorsIndex index =
        trim::check_safetensors_bytes("fuzz.safetensors", std::string_view(reinterpret_cast<const char*>(data), size));
    // The accepted index must describe bytes inside the file.
    for (const trim::SafetensorsEntry& e : index.entries)
      if (e.begin > e.end || index.data_start + e.end > size) __builtin_trap();
  } catch (const trim::Error&) {
  }
  return 0;
}
