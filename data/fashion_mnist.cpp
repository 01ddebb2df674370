#include "data/fashion_mnist.h"

#include <filesystem>

#include "core/error.h"
#include "core/io/regular_file.h"
#include "data/array_dataset.h"
#include "data/idx.h"

namespace trim {
namespace {

constexpr int kClasses = 10;
constexpr int64_t kSide = 28;

std::string dims_str(const std::vector<int64_t>& dims) { return Shape(dims).str(); }

// Checks the file exists first, so that a missing installation gets a hint instead of a bare
// "does not exist".
void require_file(const std::string& path, const std::string& split) {
  if (!path_exists(path))
    throw Error(cat("Fashion-MNIST file ", path, " (", split,
                    " split) not found; install the dataset with scripts/setup.sh (Debian package "
                    "dataset-fashion-mnist, which puts it in ",
                    kFashionMnistDir, ")"));
}

}  // namespace

std::shared_ptr<Dataset> load_fashion_mnist(const std::string& folder, const std::string& split) {
  std::string prefix;
  if (split == "train") prefix = "train";
  else if (split == "test") prefix = "t10k";
  else throw Error(cat("Fashion-MNIST split must be \"train\" or \"test\", got \"", split, "\""));

  const std::string images_path = (std::filesystem::path(folder) / (prefix + "-images-idx3-ubyte.gz")).string();
  const std::string labels_path = (std::filesystem::path(folder) / (prefix + "-labels-idx1-ubyte.gz")).string();
  require_file(images_path, split);
  require_file(labels_path, split);

  IdxArray images = read_idx(images_path, 3);
  IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[1] != kSide || images.dims[2] != kSide)
    throw Error(cat(images_path, ": images have shape ", dims_str(images.dims), ", expected [N, 28, 28]"));
  if (images.dims[0] == 0)
    throw Error(cat(images_path, ": the ", split, " split holds 0 images; expected at least 1"));
  if (labels.dims[0] != images.dims[0])
    throw Error(cat(labels_path, ": ", labels.dims[0], " labels for the ", images.dims[0], " images of ",
                    images_path));
  std::vector<int32_t> classes(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kClasses)
      throw Error(cat(labels_path, ": label ", i, " (offset ", 8 + i, ") is ", int(labels.data[i]),
                      ", expected 0..", kClasses - 1));
    classes[i] = labels.data[i];
  }
  return std::make_shared<ArrayDataset>(Shape{1, kSide, kSide}, kClasses, std::move(images.data),
                                        std::move(classes), images_path);
}

}  // namespace trim
