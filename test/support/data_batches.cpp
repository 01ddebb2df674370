#include "test/support/data_batches.h"

namespace trim::test {

std::vector<BatchBytes> epoch_batches(DataLoader& loader, int64_t epoch, int64_t first_batch) {
  loader.start_epoch(epoch, first_batch);
  std::vector<BatchBytes> out;
  while (std::optional<Batch> b = loader.next()) {
    BatchBytes bb;
    bb.images = b->images.to_vector<uint8_t>();
    bb.labels = b->labels.to_vector<int32_t>();
    bb.skipped = b->skipped;
    out.push_back(std::move(bb));
  }
  return out;
}

}  // namespace trim::test
