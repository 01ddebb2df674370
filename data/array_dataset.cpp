#include "data/array_dataset.h"

#include <cstring>

#include "core/error.h"

namespace trim {

ArrayDataset::ArrayDataset(Shape item_shape, int num_classes, std::vector<uint8_t> images,
                           std::vector<int32_t> labels, const std::string& source)
    : item_shape_(item_shape),
      num_classes_(num_classes),
      item_bytes_(item_shape.numel()),
      images_(std::move(images)),
      labels_(std::move(labels)) {
  if (num_classes_ < 1) throw Error(cat(source, ": a dataset needs at least one class, got ", num_classes_));
  if (item_bytes_ < 1) throw Error(cat(source, ": examples of shape ", item_shape_.str(), " hold no bytes"));
  auto expected = uint64_t(labels_.size()) * uint64_t(item_bytes_);
  if (images_.size() != expected)
    throw Error(cat(source, ": ", labels_.size(), " labels need ", expected, " image bytes (", item_shape_.str(),
                    " each), found ", images_.size()));
  for (size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] < 0 || labels_[i] >= num_classes_)
      throw Error(cat(source, ": label of example ", i, " is ", labels_[i], ", expected 0..", num_classes_ - 1));
}

int32_t ArrayDataset::get(int64_t i, uint8_t* dst, const ItemContext&) const {
  TRIM_CHECK(i >= 0 && i < size(), cat("example ", i, " out of range for a dataset of ", size()));
  std::memcpy(dst, images_.data() + i * item_bytes_, size_t(item_bytes_));
  return labels_[size_t(i)];
}

}  // namespace trim
