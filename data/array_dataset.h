#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace trim {

// A dataset held in memory: `images` holds size() examples of item_shape().numel() bytes each, back
// to back; labels[i] is the label of example i.
class ArrayDataset : public Dataset {
 public:
  // Checks that the sizes agree and that every label is in [0, num_classes); `source` (a file or a
  // short description) names where the data came from in the error messages.
  ArrayDataset(Shape item_shape, int num_classes, std::vector<uint8_t> images, std::vector<int32_t> labels,
               const std::string& source);

  int64_t size() const override { return int64_t(labels_.size()); }
  Shape item_shape() const override { return item_shape_; }
  int num_classes() const override { return num_classes_; }
  int32_t get(int64_t i, uint8_t* dst, const ItemContext& ctx) const override;

 private:
  Shape item_shape_;
  int num_classes_;
  int64_t item_bytes_;
  std::vector<uint8_t> images_;
  std::vector<int32_t> labels_;
};

}  // namespace trim
