#pragma once
// The dataset-specific settings of a manifest's "data" section, read strictly (a key that does not
// apply to the chosen dataset is an unknown key).
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/augment.h"

namespace trim {

struct DataOptions {
  // Training split only: the dataset's random augmentation (cifar*: pad + RandomCrop, image_folder:
  // RandomResizedCrop; both followed by a horizontal flip when `flip`). false: training images are
  // made as evaluation images are.
  bool augment = true;
  bool flip = true;
  // cifar10, cifar100: RandomCrop(32, padding=crop_padding) with zero or reflect padding.
  int64_t crop_padding = 4;
  PadMode padding_mode = PadMode::zero;
  // image_folder: RandomResizedCrop(image_size, scale, ratio) for training, Resize(resize) +
  // CenterCrop(image_size) for evaluation; channels 3 (RGB) or 1 (greyscale, the JPEG's luma).
  int64_t image_size = 224;
  int64_t resize = 256;
  int channels = 3;
  double scale_lo = 0.08, scale_hi = 1.0;
  double ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
  // image_folder: a file that cannot be decoded is replaced by the next good one (counted in
  // Batch::skipped, reported as metrics.jsonl's skipped_files) instead of failing the run.
  bool skip_bad_files = false;
  // synthetic: `size` training and `test_size` test examples of shape [C, H, W] and `classes` labels.
  std::vector<int64_t> shape{3, 32, 32};
  int classes = 10;
  int64_t size = 10000, test_size = 1000;
};

// The readers of the dataset-specific keys of a manifest's "data" section (the registry in
// data/datasets.h names one per dataset). Each reads its keys bounded, with the defaults above;
// the caller calls data.finish(), which refuses the rest (a key that does not apply to the chosen
// dataset is an unknown key).
DataOptions read_no_options(const Config& data);         // fashion_mnist: no keys of its own
DataOptions read_cifar_options(const Config& data);      // cifar10, cifar100
DataOptions read_image_folder_options(const Config& data);
DataOptions read_synthetic_options(const Config& data);

}  // namespace trim
