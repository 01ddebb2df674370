#include "data/datasets.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "data/cifar.h"
#include "data/fashion_mnist.h"
#include "data/image_folder.h"
#include "data/synthetic.h"

namespace trim {
namespace {

std::shared_ptr<Dataset> load_synthetic(const std::string&, const std::string& split, const DataOptions& o) {
  if (split != "train" && split != "test")
    throw Error(cat("synthetic dataset: split must be \"train\" or \"test\", got \"", split, "\""));
  const bool train = split == "train";
  return make_synthetic(Shape(o.shape), o.classes, train ? o.size : o.test_size, train ? 0 : 1);
}

}  // namespace

const Registry<DatasetEntry>& dataset_registry() {
  static const Registry<DatasetEntry> r("dataset", {
      {"fashion_mnist",
       {read_no_options, [](const std::string& root, const std::string& split,
                            const DataOptions&) { return load_fashion_mnist(root, split); },
        "Fashion-MNIST IDX files (gzip or plain), 28x28 greyscale, 10 classes"}},
      {"cifar10",
       {read_cifar_options, [](const std::string& root, const std::string& split,
                               const DataOptions& o) { return load_cifar(10, root, split, o); },
        "CIFAR-10 binary batches (a folder or the .tar.gz), 32x32 RGB"}},
      {"cifar100",
       {read_cifar_options, [](const std::string& root, const std::string& split,
                               const DataOptions& o) { return load_cifar(100, root, split, o); },
        "CIFAR-100 binary batches (fine labels), 32x32 RGB"}},
      {"image_folder",
       {read_image_folder_options, load_image_folder,
        "ImageNet-style folders of JPEG/PNG images, one folder per class (train/, val/)"}},
      {"synthetic", {read_synthetic_options, load_synthetic, "random images and labels of a given shape"}},
  });
  return r;
}

std::shared_ptr<Dataset> load_dataset(const std::string& name, const std::string& root, const std::string& split,
                                      const DataOptions& options) {
  return dataset_registry().at(name).load(root, split, options);
}

uint64_t dataset_fingerprint(const Dataset& set) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a, 64-bit
  auto add = [&h](const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  const int64_t n = set.size(), classes = set.num_classes();
  const Shape shape = set.item_shape();
  add(&n, sizeof n);
  add(&classes, sizeof classes);
  for (int64_t d : shape.vec()) add(&d, sizeof d);
  constexpr int64_t kSamples = 64;
  std::vector<uint8_t> bytes(size_t(shape.numel()));
  const int64_t samples = std::min(n, kSamples);
  for (int64_t k = 0; k < samples; ++k) {
    const int64_t i = samples == 1 ? 0 : int64_t((__int128)k * (n - 1) / (samples - 1));
    ItemContext ctx;  // seed 0, epoch 0
    const int32_t label = set.get(i, bytes.data(), ctx);
    add(&i, sizeof i);
    add(&label, sizeof label);
    add(bytes.data(), bytes.size());
  }
  return h;
}

}  // namespace trim
