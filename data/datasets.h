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

// A cheap fingerprint of `set`'s examples, for checkpoints to notice other data on resume: a
// 64-bit FNV-1a hash of its size, item shape, class count and the bytes and labels of 64 examples
// spread evenly over it (the first and the last included) as get() produces them for seed 0,
// epoch 0. Reading 64 examples costs milliseconds for in-memory sets and a few tenths of a second
// for JPEG folders of any size (ImageNet's 1.28 M files are not read or listed again); a set
// whose size changed, or whose sampled examples or labels changed, gets another value. Files
// replaced between the sampled ones go unnoticed (the price of not reading them all), and so do
// changes the sampled examples do not show. Data options that change what get() produces
// (augmentation, image size) change it too.
uint64_t dataset_fingerprint(const Dataset& set);

}  // namespace trim
