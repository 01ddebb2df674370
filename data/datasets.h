#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/data_options.h"
#include "data/dataset.h"

namespace trim {

// dataset_names() (the names a manifest can use) is declared in data/data_options.h.

// Loads split "train" or "test" of the dataset called `name` from `root` (a folder, or for CIFAR
// also its .tar.gz; unused by "synthetic"), with the dataset-specific `options`. Throws trim::Error
// listing the known names for an unknown one, and the loader's own errors otherwise.
std::shared_ptr<Dataset> load_dataset(const std::string& name, const std::string& root, const std::string& split,
                                      const DataOptions& options = {});

}  // namespace trim
