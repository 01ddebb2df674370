#pragma once
// Runs one SGD step over many tensors: a loop on the CPU, one kernel launch on CUDA.
#include <cstdint>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/optim/sgd_rule.h"
#include "core/tensor.h"

namespace trim {

// Elements per CUDA block in the multi-tensor step; the chunk table maps blocks to (slot, chunk).
constexpr int64_t kSgdChunk = 8192;

struct SgdChunk {
  int32_t slot;
  int32_t chunk;
};

template <class Rule>
void sgd_step_cpu(const std::vector<SgdSlot<Rule>>& slots, const SgdScalars& k) {
  for (const SgdSlot<Rule>& s : slots) cpu::map(s.n, [&](int64_t i) { sgd_update(s, k, i); });
}

// Device-side tables, built once by the optimizer: slots [count] and chunks [chunk_count] are
// device arrays, scalars a device SgdScalars. Explicitly instantiated for each Rule in the .cu
// file that owns the Rule (see sgd_step.cuh).
template <class Rule>
void sgd_step_cuda(const SgdSlot<Rule>* slots, const SgdChunk* chunks, int64_t chunk_count, const SgdScalars* scalars);

}  // namespace trim
