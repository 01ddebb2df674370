#include "apps/runner/termination.h"

#include <csignal>
#include <cstring>

namespace trim {
namespace {

// The signal's number; written by the handler, read between steps.
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_termination_signal(int signal_number) { g_signal = signal_number; }

}  // namespace

void install_termination_handler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_termination_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}
bool termination_requested() { return g_signal != 0; }
int termination_signal() { return int(g_signal); }
void request_termination(int signal_number) { g_signal = signal_number; }
void clear_termination_request() { g_signal = 0; }
const char* termination_signal_name() { return g_signal == SIGINT ? "SIGINT" : "SIGTERM"; }

}  // namespace trim
