#pragma once
// What the process writes to stderr (trim's log lines, core/log.h) while a StderrCapture lives.
#include <string>

namespace trim::test {

class StderrCapture {
 public:
  StderrCapture();  // redirects file descriptor 2 to a temporary file
  ~StderrCapture();  // restores it
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  // Restores stderr and returns everything written to it since construction.
  std::string text();

 private:
  void restore();
  std::string path_;
  int saved_ = -1;
};

// How many times `what` occurs in `text`.
size_t occurrences(const std::string& text, const std::string& what);

}  // namespace trim::test
