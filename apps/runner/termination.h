#pragma once
// The request to stop a run (SIGTERM), read by the training loop between steps.

namespace trim {

// SIGTERM (what a launcher or a batch system sends before killing a job): after the handler is
// installed the signal only sets a flag, which the training loop reads between steps.
void install_termination_handler();
bool termination_requested();
void request_termination();        // what the handler does
void clear_termination_request();  // forgets a request (tests that resume in the same process)

}  // namespace trim
