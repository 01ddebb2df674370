#pragma once
// OpenMP loops for the CPU backend. Static schedules only: results depend on the thread count
// but never on timing, so a run repeats bit for bit with the same number of threads.
#include <omp.h>

#include <cstdint>

namespace trim::cpu {

// Below this many elements a loop runs on the calling thread: forking costs more than it saves.
constexpr int64_t kParallelGrain = 16384;

// Each thread runs a private copy of the functor: through a reference the compiler must assume that
// a store to the output may change the functor's pointers and reloads them per element, which keeps
// the loop scalar; a local copy lets it vectorise.
template <class F>
void map(int64_t n, const F& f) {
  if (n < kParallelGrain) {
    const F g = f;
    for (int64_t i = 0; i < n; ++i) g(i);
    return;
  }
#pragma omp parallel
  {
    const F g = f;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) g(i);
  }
}

// Runs f(a, b, c) over the box [0, n0) x [0, n1) x [0, n2), rows of c in order on one thread:
// spatial kernels get their coordinates without dividing per element.
template <class F>
void map3(int64_t n0, int64_t n1, int64_t n2, const F& f) {
  int64_t rows = n0 * n1;
  if (rows * n2 < kParallelGrain) {
    const F g = f;  // a private copy, as in map
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < n2; ++c) g(r / n1, r % n1, c);
    return;
  }
#pragma omp parallel
  {
    const F g = f;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t a = r / n1, b = r % n1;
      for (int64_t c = 0; c < n2; ++c) g(a, b, c);
    }
  }
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
