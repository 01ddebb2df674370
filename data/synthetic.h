#pragma once
#include <cstdint>
#include <memory>

#include "core/shape.h"
#include "data/dataset.h"

namespace trim {

// `size` random images of shape [C, H, W] (uniform bytes) with uniform labels in [0, classes),
// generated on the fly: example i is a pure function of (ItemContext::seed, split, i), the same in
// every epoch, so benchmarks need no data files. `split` 0 (train) and 1 (test) give unrelated sets.
std::shared_ptr<Dataset> make_synthetic(Shape item_shape, int classes, int64_t size, uint32_t split);

}  // namespace trim
