#pragma once

namespace trim {

// Whether ops record autograd history on this thread (on by default).
bool grad_enabled();

// Whether backward offers leaves' gradient buffers to ops to write in place (on by default; see
// GradRequest in node.h). Off restores the clone-then-add path: for tests and benchmarks.
bool grads_in_place();
void set_grads_in_place(bool on);

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
