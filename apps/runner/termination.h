#pragma once
// The request to stop a run (SIGTERM or SIGINT), read by the training loop between steps.

namespace trim {

// SIGTERM (what a launcher or a batch system sends before killing a job) and SIGINT (Ctrl-C):
// after the handler is installed either signal only sets a flag, which the training loop reads
// between steps; the run then checkpoints where it stands and the app exits with 128 + the
// signal's number (143, 130), as a shell reports a process the signal ended. A second Ctrl-C
// while the checkpoint is written is no different from the first: the write is atomic either
// way, and kill -9 remains the way to stop at once.
void install_termination_handler();
bool termination_requested();
// The signal that asked to stop (SIGTERM when request_termination was called without one); 0
// when none did.
int termination_signal();
void request_termination(int signal_number = 15);  // what the handler does (15: SIGTERM)
void clear_termination_request();  // forgets a request (tests that resume in the same process)
// "SIGTERM", "SIGINT" (for messages).
const char* termination_signal_name();

}  // namespace trim
