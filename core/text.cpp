#include "core/text.h"

#include <cstdint>
#include <cstdio>

namespace trim {

size_t utf8_sequence_at(const std::string& s, size_t i) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  if (i >= n) return 0;
  const unsigned c = b[i];
  if (c < 0x80) return 1;
  const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || c > 0xF4 || i + len > n) return 0;
  uint32_t cp = c & (0x3F >> (len - 1));
  for (size_t k = 1; k < len; ++k) {
    if ((b[i + k] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b[i + k] & 0x3F);
  }
  const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

size_t invalid_utf8_at(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_at(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string::npos;
}

std::string quote(const std::string& s, size_t max_chars) {
  std::string out = "\"";
  size_t chars = 0, shown = 0;  // characters in `s` (an invalid byte counts as one), and shown
  char buf[12];
  for (size_t i = 0; i < s.size(); ++chars) {
    size_t len = utf8_sequence_at(s, i);
    if (shown < max_chars) {
      ++shown;
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (len == 0) {
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      } else if (c == '"' || c == '\\') {
        out += '\\';
        out += char(c);
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c < 0x20 || c == 0x7f) {
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out.append(s, i, len);
      }
    }
    i += len == 0 ? 1 : len;
  }
  out += shown < chars ? "...\"" : "\"";
  if (shown < chars) out += " (" + std::to_string(chars) + " characters)";
  return out;
}

}  // namespace trim
