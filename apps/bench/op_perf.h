#pragma once
// The op table's timing mode (ggml's test-backend-ops MODE_PERF): any OpCase, forward + backward,
// on any device, timed the same way for the table's rows and for cases made from a zoo model.
#include <functional>
#include <vector>

#include "apps/bench/op_cases.h"
#include "core/device.h"

namespace trim::test {

// One forward + backward step of `c` on `device`, its inputs (make_inputs) and output gradient (a
// fixed normal draw) allocated once. inputs[0], when it takes a gradient, arrives as from the layer
// before in a network: its gradient is computed and dropped, not copied into a leaf. The other
// inputs with a gradient are leaves whose gradients are cleared after every step, as
// zero_grad(set_to_none=True) between training steps. Inputs the op updates (BN running
// statistics) keep their updates from step to step.
std::function<void()> timed_step(const OpCase& c, Device device);

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
};

// `warmup` untimed steps (cuDNN's algorithm search, the allocator's pool filling), then `repeats`
// timed runs of `iters` steps each, with the device synchronised on both sides of every run so that
// the host clock spans all queued device work. Per-step milliseconds over the runs.
Timing time_steps(const std::function<void()>& step, Device device, int warmup, int iters, int repeats);

// The same for several steps timed round-robin: `warmup` untimed steps of each, then `repeats`
// rounds in which each step runs one timed run of `iters` steps in turn, so the ratios between
// them are measured under the same load (the machine is noisy). One Timing per step, in order.
std::vector<Timing> time_interleaved(const std::vector<std::function<void()>>& steps, Device device, int warmup,
                                     int iters, int repeats);

}  // namespace trim::test
