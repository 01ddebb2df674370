#pragma once

namespace trim {

// Whether ops record autograd history on this thread (on by default).
bool grad_enabled();

// Disables recording for its lifetime (evaluation, optimizer updates, initialisation).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace trim
