#include "apps/runner/progress.h"

#include <unistd.h>

#include <cstdio>

namespace trim {

Progress::Progress(double interval) : tty_(::isatty(STDERR_FILENO)), interval_(tty_ ? 0.25 : interval) {
  last_ = std::chrono::steady_clock::now() - std::chrono::hours(1);
}

bool Progress::due() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count() >= interval_;
}

void Progress::show(const std::string& text) {
  last_ = std::chrono::steady_clock::now();
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

void Progress::done() {
  if (open_) std::fprintf(stderr, "\n");
  open_ = false;
}

}  // namespace trim
