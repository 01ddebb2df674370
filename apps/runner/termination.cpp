#include "apps/runner/termination.h"

#include <csignal>
#include <cstring>

namespace trim {
namespace {

volatile std::sig_atomic_t g_terminate = 0;
extern "C" void on_sigterm(int) { g_terminate = 1; }

}  // namespace

void install_termination_handler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
}
bool termination_requested() { return g_terminate != 0; }
void request_termination() { g_terminate = 1; }
void clear_termination_request() { g_terminate = 0; }

}  // namespace trim
