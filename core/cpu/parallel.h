#pragma once
// OpenMP loops for the CPU backend. Static schedules only: results depend on the thread count
// but never on timing, so a run repeats bit for bit with the same number of threads.
#include <omp.h>

#include <cstdint>

namespace trim::cpu {

// Below this many elements a loop runs on the calling thread: forking costs more than it saves.
constexpr int64_t kParallelGrain = 16384;

template <class F>
void map(int64_t n, const F& f) {
  if (n < kParallelGrain) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Runs body(i) for i in [0, n) across threads when `parallel` holds, else sequentially.
template <class F>
void parallel_for(int64_t n, bool parallel, const F& body) {
  if (!parallel || n < 2) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace trim::cpu
