#pragma once
// Reading whole epochs out of a DataLoader, for the dataset tests.
#include <cstdint>
#include <vector>

#include "data/loader.h"

namespace trim::test {

struct BatchBytes {
  std::vector<uint8_t> images;
  std::vector<int32_t> labels;
  int64_t skipped = 0;
  bool operator==(const BatchBytes& o) const {
    return images == o.images && labels == o.labels && skipped == o.skipped;
  }
};

// The batches of `epoch` from first_batch on, copied to host vectors.
std::vector<BatchBytes> epoch_batches(DataLoader& loader, int64_t epoch, int64_t first_batch = 0);

}  // namespace trim::test
