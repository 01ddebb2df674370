#pragma once
// Selects a CPU convolution backend for one scope and restores the previous one on exit.
#include <vector>

#include "core/cpu/conv_backend.h"

namespace trim::test {

class ConvBackendGuard {
 public:
  explicit ConvBackendGuard(cpu::ConvBackend b) : saved_(cpu::conv_backend()) { cpu::set_conv_backend(b); }
  ~ConvBackendGuard() { cpu::set_conv_backend(saved_); }
  ConvBackendGuard(const ConvBackendGuard&) = delete;
  ConvBackendGuard& operator=(const ConvBackendGuard&) = delete;

 private:
  cpu::ConvBackend saved_;
};

// The backends this build has: im2col always, oneDNN when built in.
inline std::vector<cpu::ConvBackend> conv_backends() {
  std::vector<cpu::ConvBackend> b{cpu::ConvBackend::im2col};
  if (cpu::have_onednn()) b.push_back(cpu::ConvBackend::onednn);
  return b;
}

}  // namespace trim::test
