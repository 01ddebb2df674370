#pragma once
// The step callbacks every run uses (apps/runner/loop.h), in the order the trainer adds them:
// the agreement to stop on SIGTERM, the progress line, and the checkpoint cadence.
#include <cstdint>

#include "apps/runner/loop.h"

namespace trim {

// Whether any rank was asked to stop (termination_requested, apps/runner/termination.h): all
// ranks agree after every step (one tiny all-reduce under several ranks), so they stop at the same
// step, with a checkpoint.
StepCallback stop_on_termination();

// On rank 0, which speaks for the job: a progress line ("epoch 2/10  batch 40/469  loss 0.4123
// acc 0.8512  lr 0.1  9000 img/s") when one is due, from this rank's running totals.
StepCallback show_progress();

// A checkpoint every `every_steps` optimizer steps (mid-epoch: every epoch's end writes one anyway).
StepCallback checkpoint_every(int64_t every_steps);

}  // namespace trim
