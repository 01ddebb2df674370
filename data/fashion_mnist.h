#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"

namespace trim {

// Where the Debian package dataset-fashion-mnist (installed by scripts/setup.sh) puts the files.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST (or MNIST: same format and file names) from a folder holding the four standard
// files {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. split is "train" (60000 examples) or
// "test" (10000). Returns an in-memory dataset of item shape [1, 28, 28] with 10 classes.
//
// Throws trim::Error naming the file when it is missing (suggesting scripts/setup.sh), unreadable
// or malformed (see read_idx), when the images are not [N, 28, 28], the labels not [N] with the
// same N, or a label is not below 10 (naming its index and value).
std::shared_ptr<Dataset> load_fashion_mnist(const std::string& folder, const std::string& split);

}  // namespace trim
