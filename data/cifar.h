#pragma once
#include <memory>
#include <string>

#include "data/data_options.h"
#include "data/dataset.h"

namespace trim {

// CIFAR-10 (classes 10) or CIFAR-100 (classes 100, fine labels) from the official binary
// distribution, held in memory as [3, 32, 32] images. `root` is one of
//  - a folder holding the extracted .bin files (data_batch_1..5.bin and test_batch.bin for CIFAR-10,
//    train.bin and test.bin for CIFAR-100), directly or in its cifar-10-batches-bin/ or
//    cifar-100-binary/ subfolder;
//  - the archive cifar-10-binary.tar.gz / cifar-100-binary.tar.gz itself, or a folder holding it.
// Records are 1 label byte (CIFAR-10) or coarse + fine label bytes (CIFAR-100), then 3072 bytes:
// 1024 red, 1024 green, 1024 blue, each 32 x 32 row-major.
//
// split "train" applies, when options.augment, RandomCrop(32, padding=crop_padding, zero or reflect
// padding) and then, when options.flip, a horizontal flip with probability 1/2, drawn from
// (seed, epoch, index); "test" returns the images as stored.
//
// Throws trim::Error naming the file for a missing file (listing where it looked), a size that is
// not a positive multiple of the record size (expected and found, records and leftover bytes), or a
// label out of range (its record, byte offset, value and the range).
std::shared_ptr<Dataset> load_cifar(int classes, const std::string& root, const std::string& split,
                                    const DataOptions& options);

}  // namespace trim
