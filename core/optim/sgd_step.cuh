#pragma once
// The multi-tensor SGD kernel. A .cu file that defines a Rule includes this header and writes
//   template void trim::sgd_step_cuda<MyRule>(const SgdSlot<MyRule>*, const SgdChunk*, int64_t, const SgdScalars*);
#include <type_traits>

#include "core/cuda/launch.cuh"
#include "core/optim/sgd_step.h"

namespace trim {

template <class Rule>
__global__ void sgd_multi_tensor(const SgdSlot<Rule>* slots, const SgdChunk* chunks, const SgdScalars* scalars) {
  const SgdChunk c = chunks[blockIdx.x];
  const SgdSlot<Rule> s = slots[c.slot];
  const SgdScalars k = *scalars;
  int64_t begin = int64_t(c.chunk) * kSgdChunk, end = begin + kSgdChunk < s.n ? begin + kSgdChunk : s.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) sgd_update(s, k, i);
}

template <class Rule>
void sgd_step_cuda(const SgdSlot<Rule>* slots, const SgdChunk* chunks, int64_t chunk_count, const SgdScalars* scalars) {
  // The tables reach the GPU as raw bytes copied from host memory.
  static_assert(std::is_trivially_copyable_v<SgdSlot<Rule>> && std::is_standard_layout_v<SgdSlot<Rule>>);
  static_assert(std::is_trivially_copyable_v<SgdScalars> && std::is_trivially_copyable_v<SgdChunk>);
  if (chunk_count == 0) return;
  sgd_multi_tensor<Rule><<<unsigned(chunk_count), cuda::kThreads, 0, cuda::stream()>>>(slots, chunks, scalars);
  TRIM_KERNEL_CHECK();
}

}  // namespace trim
