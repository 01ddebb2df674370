#include "data/data_options.h"

#include "core/error.h"

namespace trim {
namespace {
using Interval = Config::Interval;
constexpr int64_t kMaxSide = 16384;  // image sides
constexpr int64_t kMaxSyntheticExamples = int64_t(1) << 40;
}  // namespace

namespace {
// The random augmentation switches of the training split (cifar*, image_folder).
void read_augment(const Config& data, DataOptions& o) {
  o.augment = data.get<bool>("augment", true);
  o.flip = data.get<bool>("flip", true);
}
}  // namespace

DataOptions read_no_options(const Config&) { return {}; }

DataOptions read_cifar_options(const Config& data) {
  DataOptions o;
  read_augment(data, o);
  o.crop_padding = data.int_in("crop_padding", 4, 0, 31);  // reflect needs padding below the side (32)
  o.padding_mode =
      data.choice("padding_mode", {"zero", "reflect"}, "zero") == "zero" ? PadMode::zero : PadMode::reflect;
  return o;
}

DataOptions read_image_folder_options(const Config& data) {
  DataOptions o;
  read_augment(data, o);
  o.image_size = data.int_in("image_size", 224, 1, kMaxSide);
  o.resize = data.int_in("resize", o.image_size * 256 / 224, 1, kMaxSide);
  if (o.resize < o.image_size)
    data.fail("resize", cat("the shorter side is resized to ", o.resize, ", below image_size ", o.image_size,
                            ": the centre crop would not fit"));
  o.channels = int(data.int_in("channels", 3, 1, 3));
  if (o.channels == 2) data.fail("channels", "expected 1 (greyscale) or 3 (RGB), found 2");
  std::vector<float> scale = data.reals_in("scale", {0.08f, 1.0f}, Interval{0.0, 1.0, true, false}, 2);
  std::vector<float> ratio = data.reals_in("ratio", {3.0f / 4.0f, 4.0f / 3.0f}, Interval{1e-3, 1e3}, 2);
  if (scale.size() != 2 || scale[0] > scale[1])
    data.fail("scale", "expected [lo, hi] with 0 < lo <= hi <= 1 (area fractions of RandomResizedCrop)");
  if (ratio.size() != 2 || ratio[0] > ratio[1])
    data.fail("ratio", "expected [lo, hi] with lo <= hi (aspect ratios width / height of RandomResizedCrop)");
  // The defaults are exact (3/4, 4/3), not their float roundings.
  if (data.has("scale")) o.scale_lo = scale[0], o.scale_hi = scale[1];
  if (data.has("ratio")) o.ratio_lo = ratio[0], o.ratio_hi = ratio[1];
  o.skip_bad_files = data.get<bool>("skip_bad_files", false);
  return o;
}

DataOptions read_synthetic_options(const Config& data) {
  DataOptions o;
  o.shape = data.ints_in("shape", {3, 32, 32}, 1, kMaxSide, 3);
  if (o.shape.size() != 3) data.fail("shape", cat("expected [C, H, W], found ", o.shape.size(), " entries"));
  if (o.shape[0] > 4) data.fail("shape", cat("expected 1 to 4 channels, found ", o.shape[0]));
  o.classes = int(data.int_in("classes", 10, 1, 1 << 20));
  o.size = data.int_in("size", 10000, 1, kMaxSyntheticExamples);
  o.test_size = data.int_in("test_size", 1000, 1, kMaxSyntheticExamples);
  return o;
}

}  // namespace trim
