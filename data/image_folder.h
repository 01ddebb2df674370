#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/data_options.h"
#include "data/dataset.h"

namespace trim {

// JPEG (and PNG) images in torchvision's ImageFolder layout (ImageNet's): root/train/<class>/<file> for
// split "train" and root/val/<class>/<file> for "test". Classes are the sub-folders of
// root/train sorted by name (torchvision's order; when root/train is absent, those of root/val);
// a class folder in val/ that train/ lacks is an error. Files ending .jpg / .jpeg / .png (any case)
// are the examples, sorted by name within a class; other files are ignored (with one warning). A
// file is decoded as what its first bytes say (PNG signature or not), whatever its name.
//
// Item shape [channels, image_size, image_size]. Training (options.augment): RandomResizedCrop
// (image_size, scale, ratio) as torchvision draws it, then a flip with probability 1/2
// (options.flip), drawn from (seed, epoch, index). Evaluation (and training without augment):
// Resize(resize) of the shorter side + CenterCrop(image_size). The JPEG is decoded DCT-scaled
// (see decode_jpeg) to the smallest size that still covers the output, then resampled with the
// antialiased bilinear filter of resample_crop / resample_resize_crop.
//
// Loading lists the folders only; get() reads and decodes the file (thread-safe). Throws
// trim::Error naming the folder when there are no classes, a class folder cannot be listed or
// holds no JPEG; get() throws naming the file when it cannot be read or decoded. With
// options.skip_bad_files, a class folder that cannot be listed or is empty is skipped with a
// warning (its label stays reserved), and a bad file in get() is replaced by the next good example
// (i + 1, i + 2, ... wrapping), adding one to *ctx.skipped per bad file passed over.
std::shared_ptr<Dataset> load_image_folder(const std::string& root, const std::string& split,
                                           const DataOptions& options);

}  // namespace trim
