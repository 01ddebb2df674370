#pragma once
#include <cstdint>

#include "core/base.h"

namespace trim {

// A reserved block of the counter-based random stream: element i of a draw uses Philox block
// start() + i / 4 under key seed (see philox.h). Generator::reserve hands them out; kernels take them.
//
// `base` is null except in keys handed out while a CUDA graph is captured (Generator::begin_capture):
// then it points at a device word the replay reads when it runs, and `offset` is relative to it,
// so each replay draws fresh numbers from wherever the host has set that word (core/optim/step_graph.h).
struct RandomKey {
  uint64_t seed = 0;
  uint64_t offset = 0;
  const uint64_t* base = nullptr;  // device memory; only ever set on CUDA
  TRIM_HD uint64_t start() const { return base ? *base + offset : offset; }
};

}  // namespace trim
