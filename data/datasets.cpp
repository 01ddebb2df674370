#include "data/datasets.h"

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

}  // namespace trim
