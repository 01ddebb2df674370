#pragma once
// Per-element pieces of magnitude and filter selection, shared by the CPU path (select_cpu.cpp) and
// the CUDA path (select.cu) so that both rank with the same keys and build the same masks.
#include <cstdint>
#include <cstring>

#include "core/base.h"

namespace trim::sel {

// Ranking key of a weight: the IEEE bits of |w|. For non-negative floats the unsigned order of the
// bits is the numeric order; -0 ranks as +0 and NaN ranks above +inf (never pruned first).
TRIM_HD uint32_t magnitude_key(float w) {
  uint32_t b;
  memcpy(&b, &w, sizeof b);
  return b & 0x7fffffffu;
}

// Key of an entry that is already pruned: above every magnitude key, so it sorts last.
constexpr uint32_t kPrunedKey = 0xffffffffu;

// key[i], idx[i] of entry i of one tensor whose first entry has flat index `base` in its unit.
struct RankKeys {
  const float* w;
  const float* mask;  // nullptr: every entry unpruned
  uint32_t* key;
  uint32_t* idx;
  uint32_t base;
  TRIM_HD void operator()(int64_t i) const {
    key[i] = (mask && mask[i] == 0.0f) ? kPrunedKey : magnitude_key(w[i]);
    idx[i] = base + uint32_t(i);
  }
};

// out[i] = 1 where the entry is unpruned (mask != 0, or no mask), else 0.
struct InitMask {
  const float* mask;  // nullptr: all ones
  float* out;
  TRIM_HD void operator()(int64_t i) const { out[i] = (mask && mask[i] == 0.0f) ? 0.0f : 1.0f; }
};

// Prunes the entries listed in idx[0, k) of a unit whose masks are one flat buffer.
struct ScatterPruned {
  const uint32_t* idx;
  float* out;
  TRIM_HD void operator()(int64_t i) const { out[idx[i]] = 0.0f; }
};

// out[r * cols + c] = keep[r]: a filter mask from one flag per output row.
struct ExpandRows {
  const float* keep;
  int64_t cols;
  float* out;
  TRIM_HD void operator()(int64_t i) const { out[i] = keep[i / cols]; }
};

// The L1 norm of a filter is summed in double in one fixed order on both backends, so scores, and
// therefore ties and masks, are bit-identical: lane t (of kL1Lanes) adds elements t, t + kL1Lanes,
// ... in order; then lanes are combined by halving, lane t += lane t + s for s = kL1Lanes/2 .. 1.
constexpr int kL1Lanes = 256;

TRIM_HD double abs_as_double(float w) { return w < 0.0f ? -double(w) : double(w); }

}  // namespace trim::sel
