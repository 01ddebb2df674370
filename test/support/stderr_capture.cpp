#include "test/support/stderr_capture.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/text.h"

namespace trim::test {

StderrCapture::StderrCapture() {
  static int counter = 0;
  path_ = cat("/tmp/trim-stderr-", ::getpid(), "-", counter++, ".txt");
  std::fflush(stderr);
  std::FILE* f = std::fopen(path_.c_str(), "w");
  TRIM_CHECK(f != nullptr, cat("StderrCapture: cannot create ", path_));
  saved_ = ::dup(2);
  const bool redirected = saved_ >= 0 && ::dup2(::fileno(f), 2) >= 0;
  std::fclose(f);
  TRIM_CHECK(redirected, "StderrCapture: cannot redirect stderr");
}

StderrCapture::~StderrCapture() {
  restore();
  std::remove(path_.c_str());
}

void StderrCapture::restore() {
  if (saved_ < 0) return;
  std::fflush(stderr);
  ::dup2(saved_, 2);
  ::close(saved_);
  saved_ = -1;
}

std::string StderrCapture::text() {
  restore();
  std::ifstream in(path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace trim::test
