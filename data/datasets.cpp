#include "data/datasets.h"

#include "core/error.h"
#include "data/cifar.h"
#include "data/fashion_mnist.h"
#include "data/image_folder.h"
#include "data/synthetic.h"

namespace trim {

std::shared_ptr<Dataset> load_dataset(const std::string& name, const std::string& root, const std::string& split,
                                      const DataOptions& options) {
  if (name == "fashion_mnist") return load_fashion_mnist(root, split);
  if (name == "cifar10") return load_cifar(10, root, split, options);
  if (name == "cifar100") return load_cifar(100, root, split, options);
  if (name == "image_folder") return load_image_folder(root, split, options);
  if (name == "synthetic") {
    if (split != "train" && split != "test")
      throw Error(cat("synthetic dataset: split must be \"train\" or \"test\", got \"", split, "\""));
    const bool train = split == "train";
    return make_synthetic(Shape(options.shape), options.classes, train ? options.size : options.test_size,
                          train ? 0 : 1);
  }
  std::string known;
  for (const std::string& n : dataset_names()) known += (known.empty() ? "\"" : ", \"") + n + "\"";
  throw Error(cat("unknown dataset \"", name, "\"; known datasets: ", known));
}

}  // namespace trim
