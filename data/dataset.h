#pragma once
#include <cstdint>

#include "core/shape.h"

namespace trim {

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
  // in [0, num_classes()). Throws trim::Error when the example cannot be produced.
  virtual int32_t get(int64_t i, uint8_t* dst) const = 0;
};

}  // namespace trim
