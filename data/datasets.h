#pragma once
// The data sets a manifest can name ("data": {"dataset": NAME, ...}), in one registry.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.h"
#include "data/data_options.h"
#include "data/dataset.h"

namespace trim {

// A data set: the reader of its manifest keys, its loader and one line for --list. `load` reads
// split "train" or "test" from `root` (a folder, or for CIFAR also its .tar.gz; unused by
// "synthetic") and throws trim::Error naming the file and what is wrong.
struct DatasetEntry {
  std::function<DataOptions(const Config& data)> options;
  std::function<std::shared_ptr<Dataset>(const std::string& root, const std::string& split, const DataOptions&)> load;
  std::string about;
};

// Every data set by name. To add one: write its loader (data/<name>.{h,cpp}, listed in
// data/CMakeLists.txt), an options reader in data/data_options.cpp if it has keys of its own, and
// its row in dataset_registry() (data/datasets.cpp); a test reads a small file of the format.
const Registry<DatasetEntry>& dataset_registry();

// dataset_registry().at(name).load(root, split, options): an unknown name is an error listing the
// known ones.
std::shared_ptr<Dataset> load_dataset(const std::string& name, const std::string& root, const std::string& split,
                                      const DataOptions& options = {});

}  // namespace trim
