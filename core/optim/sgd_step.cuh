#pragma once
// The multi-tensor SGD kernel. A .cu file that defines a Rule includes this header and writes
//   TRIM_INSTANTIATE_SGD_STEP(MyRule);
#include <type_traits>

#include "core/cuda/launch.cuh"
#include "core/optim/sgd_step.h"

namespace trim {

template <class Rule>
__global__ void sgd_multi_tensor(const SgdSlot<Rule>* slots, const SgdChunk* chunks, const StepScalars<Rule>* scalars,
                                 int64_t* bad_step) {
  const SgdChunk c = chunks[blockIdx.x];
  const SgdSlot<Rule> s = slots[c.slot];
  const StepScalars<Rule> k = *scalars;
  int64_t begin = int64_t(c.chunk) * kSgdChunk, end = begin + kSgdChunk < s.n ? begin + kSgdChunk : s.n;
  bool ok = true;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) ok = sgd_update(s, k, i) && ok;
  if (!ok) atomicCAS(reinterpret_cast<unsigned long long*>(bad_step), 0ull, (unsigned long long)(k.sgd.step + 1));
}

template <class Rule>
void sgd_step_cuda(const SgdSlot<Rule>* slots, const SgdChunk* chunks, int64_t chunk_count,
                   const StepScalars<Rule>* scalars, int64_t* bad_step) {
  // The tables reach the GPU as raw bytes copied from host memory.
  static_assert(std::is_trivially_copyable_v<SgdSlot<Rule>> && std::is_standard_layout_v<SgdSlot<Rule>>);
  static_assert(std::is_trivially_copyable_v<StepScalars<Rule>> && std::is_trivially_copyable_v<SgdChunk>);
  if (chunk_count == 0) return;
  TRIM_CHECK(chunk_count <= int64_t(INT32_MAX), cat("SGD step: ", chunk_count, " chunks exceed the grid limit"));
  sgd_multi_tensor<Rule><<<unsigned(chunk_count), cuda::kThreads, 0, cuda::stream()>>>(slots, chunks, scalars, bad_step);
  TRIM_KERNEL_CHECK();
}

#define TRIM_INSTANTIATE_SGD_STEP(Rule)                                                                      \
  template void sgd_step_cuda<Rule>(const SgdSlot<Rule>*, const SgdChunk*, int64_t, const StepScalars<Rule>*, \
                                    int64_t*)

}  // namespace trim
