#pragma once
// The CUDA half of pruning/select.cpp: plain C++ signatures (no CUDA types), defined in select.cu
// and only present in CUDA builds. Pointers are device pointers on the current device; all work
// runs on the current stream. Callers (select.cpp) have already checked shapes and counts.
#include <cstdint>
#include <vector>

namespace trim::pruning_cuda {

// One tensor of a ranking unit; `mask` is nullptr when nothing is pruned yet.
struct Part {
  const float* w;
  const float* mask;
  int64_t n;
};

// Writes the unit's new mask into `out` (the concatenation of the parts' masks, in order): the old
// mask with the k smallest-key unpruned entries (ties to the lower flat index) set to 0.
// The unit must hold fewer than 2^32 entries and at least k unpruned ones.
void select_unit(const std::vector<Part>& parts, int64_t k, float* out);

int64_t count_zeros(const float* x, int64_t n);

// scores[r] = Σ|w[r, :]| for a [rows, cols] row-major matrix, in sel::kL1Lanes order (host output).
void filter_l1(const float* w, int64_t rows, int64_t cols, double* scores_host);

// out[r * cols + c] = keep[r], keep a host array of rows flags.
void expand_rows(const std::vector<float>& keep, int64_t cols, float* out);

}  // namespace trim::pruning_cuda
