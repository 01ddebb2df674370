#pragma once
// Progress of long work: on a terminal one line updated in place; otherwise a line every
// `interval` seconds, so logs stay readable.
#include <chrono>
#include <string>

namespace trim {

class Progress {
 public:
  explicit Progress(double interval_seconds = 30.0);
  // True when a new line is due (the caller then builds the text, which may need a device sync).
  bool due() const;
  void show(const std::string& text);
  void done();  // ends the in-place line

 private:
  bool tty_;
  double interval_;
  bool open_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace trim
