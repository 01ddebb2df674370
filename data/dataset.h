#pragma once
#include <cstdint>

#include "core/shape.h"

namespace trim {

// What a dataset may need to know about the request for one example besides its index. Random
// augmentations are a pure function of (seed, epoch, index), never of the thread or the order of
// calls, so a resumed run sees exactly the same crops and runs agree across worker counts.
struct ItemContext {
  uint64_t seed = 0;  // the run's seed
  int64_t epoch = 0;  // 0-based epoch of the request
  // Where a dataset that substitutes bad files (data.skip_bad_files) adds one per file it skipped
  // for this example; null when the caller does not count.
  int64_t* skipped = nullptr;
};

// An indexed set of labelled u8 images, all of one shape [C, H, W]. Loaders read it from several
// threads at once, so get() must be thread-safe (a read-only in-memory set is; a set that reads
// files must open or lock per call).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Shape item_shape() const = 0;  // e.g. [1, 28, 28]
  virtual int num_classes() const = 0;
  // Writes example i (0 <= i < size()) as item_shape().numel() bytes to dst and returns its label,
  // in [0, num_classes()). The bytes are a function of (i, ctx.seed, ctx.epoch) only. Throws
  // trim::Error when the example cannot be produced.
  virtual int32_t get(int64_t i, uint8_t* dst, const ItemContext& ctx) const = 0;
};

}  // namespace trim
