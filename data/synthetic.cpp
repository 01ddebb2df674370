#include "data/synthetic.h"

#include <cstring>

#include "core/error.h"
#include "core/random/philox.h"

namespace trim {
namespace {

constexpr uint64_t kSyntheticTag = 0x73796E7468657469ull;  // "synthetic"

class Synthetic : public Dataset {
 public:
  Synthetic(Shape shape, int classes, int64_t size, uint32_t split)
      : shape_(shape), classes_(classes), size_(size), split_(split) {}
  int64_t size() const override { return size_; }
  Shape item_shape() const override { return shape_; }
  int num_classes() const override { return classes_; }
  int32_t get(int64_t i, uint8_t* dst, const ItemContext& ctx) const override {
    TRIM_CHECK(i >= 0 && i < size_, cat("example ", i, " out of range for a dataset of ", size_));
    // Counter (index, split | block): block 0 holds the label, the image starts at block 1.
    const uint64_t key = ctx.seed ^ kSyntheticTag;
    const auto c0 = uint32_t(uint64_t(i)), c1 = uint32_t(uint64_t(i) >> 32);
    const int64_t n = shape_.numel();
    auto block = [&](uint32_t b) { return philox::generate(key, c0, c1, split_, b); };
    const int32_t label = int32_t(block(0).v[0] % uint32_t(classes_));
    for (int64_t off = 0; off < n; off += 16) {
      philox::Block b = block(uint32_t(1 + off / 16));
      std::memcpy(dst + off, b.v, size_t(std::min<int64_t>(16, n - off)));
    }
    return label;
  }

 private:
  Shape shape_;
  int classes_;
  int64_t size_;
  uint32_t split_;
};

}  // namespace

std::shared_ptr<Dataset> make_synthetic(Shape item_shape, int classes, int64_t size, uint32_t split) {
  if (classes < 1) throw Error(cat("synthetic dataset: classes must be at least 1, got ", classes));
  if (size < 1) throw Error(cat("synthetic dataset: size must be at least 1, got ", size));
  if (item_shape.numel() < 1 || item_shape.numel() >= (int64_t(1) << 36))
    throw Error(cat("synthetic dataset: images of shape ", item_shape.str(), " are empty or too large"));
  return std::make_shared<Synthetic>(item_shape, classes, size, split);
}

}  // namespace trim
