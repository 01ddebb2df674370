#pragma once
// Text as messages show it: user strings quoted and escaped, UTF-8 checked.
#include <cstddef>
#include <string>

namespace trim {

// How every message shows a string the user gave (a file name, a manifest or --set value, a key):
// in double quotes, with '"', '\\', control characters and bytes of invalid UTF-8 escaped ("\u0000",
// "\n", "\xff"), so that a NUL can neither cut a message nor a newline split it; a string longer
// than `max_chars` characters is cut there and its length follows:
// "aaaa..." (100000 characters). Never throws for any input (but std::bad_alloc).
std::string quote(const std::string& s, size_t max_chars = 200);

// Length of the valid UTF-8 sequence starting at byte `i` of `s` (1 to 4), or 0 where the bytes
// there are not valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t utf8_sequence_at(const std::string& s, size_t i);

// Byte offset of the first invalid UTF-8 sequence in `s`, or std::string::npos when `s` is valid.
size_t invalid_utf8_at(const std::string& s);

}  // namespace trim
