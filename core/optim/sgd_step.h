#pragma once
// Runs one SGD step over many tensors: a loop on the CPU, one kernel launch on CUDA.
#include <omp.h>

#include <cstdint>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/optim/sgd_update.h"

namespace trim {

// Elements per CUDA block in the multi-tensor step; the chunk table maps blocks to (slot, chunk).
constexpr int64_t kSgdChunk = 8192;

struct SgdChunk {
  int32_t slot;
  int32_t chunk;
};

// Returns false when some incoming gradient was not finite (the update ran regardless).
template <class Rule>
bool sgd_step_cpu(const std::vector<SgdSlot<Rule>>& slots, const StepScalars<Rule>& k) {
  int bad = 0;
  for (const SgdSlot<Rule>& s : slots) {
    if (s.n < cpu::kParallelGrain) {
      for (int64_t i = 0; i < s.n; ++i) bad |= !sgd_update(s, k, i);
      continue;
    }
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int64_t i = 0; i < s.n; ++i) bad |= !sgd_update(s, k, i);
  }
  return bad == 0;
}

// Device-side tables, built once by the optimizer: slots [count] and chunks [chunk_count] are
// device arrays, scalars a device StepScalars<Rule>. A non-finite incoming gradient sets
// *bad_step (device int64) to the step's number + 1 unless it is already set. Explicitly
// instantiated for each Rule in the .cu file that owns the Rule (see sgd_step.cuh).
template <class Rule>
void sgd_step_cuda(const SgdSlot<Rule>* slots, const SgdChunk* chunks, int64_t chunk_count,
                   const StepScalars<Rule>* scalars, int64_t* bad_step);

}  // namespace trim
