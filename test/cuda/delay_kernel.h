#pragma once
// A kernel that only waits: tests queue it on the compute stream ahead of a write, so work that is
// not ordered after that write (a missing stream wait) runs first and sees the old data.

namespace trim::test {

// Queues one kernel on the calling thread's stream (cuda::stream()) that busy-waits at least
// `milliseconds` (1..10000) of GPU time, and returns at once. The launch is checked.
void queue_gpu_delay(int milliseconds);

}  // namespace trim::test
