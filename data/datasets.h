#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace trim {

// The datasets a manifest can name, e.g. "fashion_mnist".
std::vector<std::string> dataset_names();

// Loads split "train" or "test" of the dataset called `name` from the folder `root`. Throws
// trim::Error listing the known names for an unknown one, and the loader's own errors otherwise.
std::shared_ptr<Dataset> load_dataset(const std::string& name, const std::string& root, const std::string& split);

}  // namespace trim
