#pragma once
#include <stdexcept>
#include <string>

#include "core/base.h"

namespace trim {

// The one exception type trim throws. Apps catch it at the top, print what() and exit non-zero;
// messages are complete sentences naming the file, JSON path or offset involved.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// For every app's main: `catch (...) { return trim::report_exception("trim-train"); }`. Prints the
// exception in flight as one line, "<app>: error: <what>" on stderr (a trim::Error's message as it
// is; any other exception -- std::bad_alloc, std::system_error, std::filesystem_error, a JSON
// library error -- with its kind, so that nothing escapes as a crash), and returns the exit status 1.
int report_exception(const char* app) noexcept;

}  // namespace trim
