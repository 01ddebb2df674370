#include "data/image_folder.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/io/regular_file.h"
#include "core/log.h"
#include "data/augment.h"
#include "data/jpeg.h"
#include "data/png.h"

namespace fs = std::filesystem;

namespace trim {
namespace {

bool is_jpeg_name(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The file's bytes, as the decoders read them.
const uint8_t* bytes_of(const std::string& file) { return reinterpret_cast<const uint8_t*>(file.data()); }

// The sorted names of the sub-folders of `dir`.
std::vector<std::string> class_names(const fs::path& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error(cat("image folder ", dir.string(), ": cannot list it: ", ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(cat("image folder ", dir.string(), ": cannot list it: ", ec.message()));
    std::error_code ec2;
    if (it->is_directory(ec2)) names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Example {
  std::string path;
  int32_t label;
};

class ImageFolder : public Dataset {
 public:
  ImageFolder(std::vector<Example> examples, int classes, bool train, const DataOptions& o)
      : examples_(std::move(examples)), classes_(classes), augment_(train && o.augment), opt_(o) {}
  int64_t size() const override { return int64_t(examples_.size()); }
  Shape item_shape() const override { return Shape{opt_.channels, opt_.image_size, opt_.image_size}; }
  int num_classes() const override { return classes_; }

  int32_t get(int64_t i, uint8_t* dst, const ItemContext& ctx) const override {
    TRIM_CHECK(i >= 0 && i < size(), cat("example ", i, " out of range for a dataset of ", size()));
    if (!opt_.skip_bad_files) return make(i, dst, ctx);
    std::string first_error;
    for (int64_t k = 0; k < size(); ++k) {
      const int64_t j = (i + k) % size();
      try {
        return make(j, dst, ctx);
      } catch (const Error& e) {
        if (first_error.empty()) first_error = e.what();
        if (ctx.skipped) ++*ctx.skipped;
      }
    }
    throw Error(cat("no file of the image folder can be decoded; the first failure: ", first_error));
  }

 private:
  // The file's pixels, at least need_w x need_h where the full image has box_w x box_h (a JPEG
  // DCT-scaled; a PNG, told apart by its signature whatever its name, at full size).
  DecodedImage decode(const std::string& bytes, bool png, double box_w, double box_h, int64_t need,
                      const std::string& path) const {
    if (png) return decode_png(bytes_of(bytes), bytes.size(), opt_.channels, path);
    return decode_jpeg(bytes_of(bytes), bytes.size(), opt_.channels, box_w, box_h, need, need, path);
  }

  // Example j: read, decode, crop, resample, flip.
  int32_t make(int64_t j, uint8_t* dst, const ItemContext& ctx) const {
    const Example& ex = examples_[size_t(j)];
    const std::string bytes = read_regular_file(ex.path, "image");
    const bool png = is_png(bytes_of(bytes), bytes.size());
    const JpegHeader head =
        png ? png_header(bytes_of(bytes), bytes.size(), ex.path) : jpeg_header(bytes_of(bytes), bytes.size(), ex.path);
    const int64_t out = opt_.image_size;
    if (!augment_) {
      // Resize + CenterCrop: the output covers size / resized of each side of the image.
      const ResizeCrop rc = resize_center_crop(head.height, head.width, opt_.resize, out);
      const DecodedImage img = decode(bytes, png, double(out) * double(head.width) / double(rc.resized_w),
                                      double(out) * double(head.height) / double(rc.resized_h), out, ex.path);
      resample_resize_crop(img.pixels.data(), img.height, img.width, img.channels, rc, dst);
      return ex.label;
    }
    ItemRandom rng(ctx.seed, ctx.epoch, j);
    const CropBox c =
        random_resized_crop(head.height, head.width, opt_.scale_lo, opt_.scale_hi, opt_.ratio_lo, opt_.ratio_hi, rng);
    const bool flip = opt_.flip && rng.coin();
    const DecodedImage img = decode(bytes, png, double(c.width), double(c.height), out, ex.path);
    // The crop in the decoded (possibly DCT-scaled) image's coordinates.
    const double sx = double(img.width) / double(head.width), sy = double(img.height) / double(head.height);
    const Box box{double(c.left) * sx, double(c.top) * sy, double(c.left + c.width) * sx,
                  double(c.top + c.height) * sy};
    resample_crop(img.pixels.data(), img.height, img.width, img.channels, box, out, out, dst);
    if (flip) flip_horizontal(dst, opt_.channels, out, out);
    return ex.label;
  }

  std::vector<Example> examples_;
  int classes_;
  bool augment_;
  DataOptions opt_;
};

}  // namespace

std::shared_ptr<Dataset> load_image_folder(const std::string& root, const std::string& split,
                                           const DataOptions& options) {
  std::string sub;
  if (split == "train")
    sub = "train";
  else if (split == "test")
    sub = "val";
  else
    throw Error(cat("image_folder split must be \"train\" or \"test\", got \"", split, "\""));
  const fs::path dir = fs::path(root) / sub, train_dir = fs::path(root) / "train";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(cat("image folder ", dir.string(), " (", split, " split): expected a folder of class folders, found ",
                    describe_path(dir.string())));
  const std::vector<std::string> classes = class_names(fs::is_directory(train_dir, ec) ? train_dir : dir);
  if (classes.empty())
    throw Error(cat("image folder ", (fs::is_directory(train_dir, ec) ? train_dir : dir).string(),
                    ": no class folders (expected one sub-folder per class)"));
  if (classes.size() > size_t(1) << 24)
    throw Error(cat("image folder ", dir.string(), ": ", classes.size(), " class folders, at most 16777216"));
  if (split == "test")
    for (const std::string& c : class_names(dir))
      if (!std::binary_search(classes.begin(), classes.end(), c))
        throw Error(
            cat("image folder ", (dir / c).string(), ": class \"", c, "\" is not a class of ", train_dir.string()));

  std::vector<Example> examples;
  int64_t ignored = 0;
  for (size_t k = 0; k < classes.size(); ++k) {
    const fs::path cdir = dir / classes[k];
    std::vector<std::string> files;
    std::string problem;
    if (!fs::is_directory(cdir, ec)) {
      problem =
          cat("class folder ", cdir.string(), " is missing (class \"", classes[k], "\" of ", train_dir.string(), ")");
    } else {
      fs::directory_iterator it(cdir, ec);
      for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::error_code ec2;
        if (!it->is_directory(ec2) && is_jpeg_name(it->path().filename().string()))
          files.push_back(it->path().string());
        else
          ++ignored;
      }
      if (ec)
        problem = cat("class folder ", cdir.string(), ": cannot list it: ", ec.message());
      else if (files.empty())
        problem = cat("class folder ", cdir.string(), " holds no .jpg, .jpeg or .png files");
    }
    if (!problem.empty()) {
      if (!options.skip_bad_files) throw Error(problem + " (data.skip_bad_files: true skips it)");
      log_warn(problem + "; skipped (data.skip_bad_files)");
      continue;
    }
    std::sort(files.begin(), files.end());
    for (std::string& f : files) examples.push_back({std::move(f), int32_t(k)});
  }
  if (ignored > 0)
    log_warn(
        cat("image folder ", dir.string(), ": ", ignored, " entries that are not .jpg / .jpeg / .png files ignored"));
  if (examples.empty())
    throw Error(cat("image folder ", dir.string(), ": no .jpg, .jpeg or .png files in any class folder"));
  return std::make_shared<ImageFolder>(std::move(examples), int(classes.size()), split == "train", options);
}

}  // namespace trim
