#include "data/cifar.h"

#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/io/regular_file.h"
#include "data/augment.h"
#include "data/tar_gz.h"

namespace fs = std::filesystem;

namespace trim {
namespace {

constexpr int64_t kSide = 32;
constexpr int64_t kPixels = 3 * kSide * kSide;  // 3072

struct Layout {
  std::vector<std::string> files;  // in order
  std::string folder, archive;     // the subfolder of the extracted archive, and the archive's name
  int label_bytes;                 // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
};

Layout layout(int classes, const std::string& split) {
  const bool train = split == "train";
  if (classes == 10) {
    Layout l{{}, "cifar-10-batches-bin", "cifar-10-binary.tar.gz", 1};
    if (train)
      for (int k = 1; k <= 5; ++k) l.files.push_back("data_batch_" + std::to_string(k) + ".bin");
    else
      l.files = {"test_batch.bin"};
    return l;
  }
  return {{train ? "train.bin" : "test.bin"}, "cifar-100-binary", "cifar-100-binary.tar.gz", 2};
}

class CifarDataset : public Dataset {
 public:
  CifarDataset(int classes, std::vector<uint8_t> images, std::vector<int32_t> labels, bool train, const DataOptions& o)
      : classes_(classes),
        images_(std::move(images)),
        labels_(std::move(labels)),
        augment_(train && o.augment),
        opt_(o) {}
  int64_t size() const override { return int64_t(labels_.size()); }
  Shape item_shape() const override { return Shape{3, kSide, kSide}; }
  int num_classes() const override { return classes_; }
  int32_t get(int64_t i, uint8_t* dst, const ItemContext& ctx) const override {
    TRIM_CHECK(i >= 0 && i < size(), cat("example ", i, " out of range for a dataset of ", size()));
    const uint8_t* src = images_.data() + i * kPixels;
    if (!augment_) {
      std::memcpy(dst, src, size_t(kPixels));
      return labels_[size_t(i)];
    }
    ItemRandom rng(ctx.seed, ctx.epoch, i);
    const int64_t pad = opt_.crop_padding;
    const int64_t top = rng.below(2 * pad + 1), left = rng.below(2 * pad + 1);
    pad_crop(src, 3, kSide, kSide, pad, opt_.padding_mode, top, left, kSide, kSide, dst);
    if (opt_.flip && rng.coin()) flip_horizontal(dst, 3, kSide, kSide);
    return labels_[size_t(i)];
  }

 private:
  int classes_;
  std::vector<uint8_t> images_;
  std::vector<int32_t> labels_;
  bool augment_;
  DataOptions opt_;
};

// Appends the records of one file's bytes, checking its size and labels.
void parse_records(const std::string& name, const std::vector<uint8_t>& bytes, int classes, int label_bytes,
                   std::vector<uint8_t>& images, std::vector<int32_t>& labels) {
  const uint64_t record = uint64_t(label_bytes) + kPixels;
  const uint64_t n = bytes.size() / record, rest = bytes.size() % record;
  if (bytes.empty() || rest != 0)
    throw Error(cat(name, ": expected a positive multiple of ", record, " bytes (records of ", label_bytes,
                    label_bytes == 1 ? " label byte" : " label bytes", " + 3072 pixel bytes; 10000 records in ",
                    "the official files), found ", bytes.size(), " bytes (", n, " records and ", rest,
                    " bytes left over)"));
  const int label_at = label_bytes - 1;  // CIFAR-100: the fine label is the second byte
  for (uint64_t r = 0; r < n; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    if (label_bytes == 2 && rec[0] >= 20)
      throw Error(
          cat(name, ": record ", r, " (offset ", r * record, "): coarse label ", int(rec[0]), ", expected 0..19"));
    const int label = rec[label_at];
    if (label >= classes)
      throw Error(cat(name, ": record ", r, " (offset ", r * record + uint64_t(label_at),
                      "): ", label_bytes == 2 ? "fine label " : "label ", label, ", expected 0..", classes - 1));
    labels.push_back(label);
    images.insert(images.end(), rec + label_bytes, rec + record);
  }
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

}  // namespace

std::shared_ptr<Dataset> load_cifar(int classes, const std::string& root, const std::string& split,
                                    const DataOptions& options) {
  if (classes != 10 && classes != 100) throw Error(cat("CIFAR has 10 or 100 classes, not ", classes));
  if (split != "train" && split != "test")
    throw Error(cat("CIFAR-", classes, " split must be \"train\" or \"test\", got \"", split, "\""));
  const Layout l = layout(classes, split);
  std::vector<uint8_t> images;
  std::vector<int32_t> labels;

  // Extracted files: in root, or in the archive's folder under root.
  for (const fs::path& dir : {fs::path(root), fs::path(root) / l.folder}) {
    if (!is_dir(dir) || !path_exists((dir / l.files[0]).string())) continue;
    for (const std::string& f : l.files) {
      const std::string path = (dir / f).string();
      const std::string text = read_regular_file(path, cat("CIFAR-", classes, " file"));
      parse_records(path, std::vector<uint8_t>(text.begin(), text.end()), classes, l.label_bytes, images, labels);
    }
    return std::make_shared<CifarDataset>(classes, std::move(images), std::move(labels), split == "train", options);
  }
  // The archive: root itself, or in root.
  const std::string archive = is_dir(root) ? (fs::path(root) / l.archive).string() : root;
  if (!path_exists(archive))
    throw Error(cat("CIFAR-", classes, " ", split, " split not found: looked for ",
                    (fs::path(root) / l.files[0]).string(), ", ", (fs::path(root) / l.folder / l.files[0]).string(),
                    " and the archive ", archive, " (download ", l.archive,
                    " from https://www.cs.toronto.edu/~kriz/cifar.html)"));
  auto members = read_tar_members(archive, l.files);
  for (const std::string& f : l.files) {
    auto it = members.find(f);
    if (it == members.end())
      throw Error(cat(archive, ": the archive holds no member named ", f, " (expected ", l.folder, "/", f, ")"));
    parse_records(archive + ":" + l.folder + "/" + f, it->second, classes, l.label_bytes, images, labels);
  }
  return std::make_shared<CifarDataset>(classes, std::move(images), std::move(labels), split == "train", options);
}

}  // namespace trim
