// ImageFolder of JPEGs: decoding against PIL's decode of the same files (golden values from
// scripts/make_golden_jpeg.py; colour, greyscale and Adobe CMYK) and against the drawn pixels,
// resampling against torchvision's resized_crop / Resize + CenterCrop, crops and flips in closed
// form, DCT scaling, reproducibility through the loader, and bad files in error and skip modes.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/augment.h"
#include "data/datasets.h"
#include "data/image_folder.h"
#include "data/jpeg.h"
#include "data/loader.h"
#include "data/png.h"
#include "test/support/data_batches.h"
#include "test/support/fixtures.h"

using namespace trim;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

struct Diff {
  int max = 0;
  double mean = 0;
};

Diff diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    int e = std::abs(int(a[i]) - int(b[i]));
    d.max = std::max(d.max, e);
    d.mean += e;
  }
  d.mean /= double(a.size());
  return d;
}

const std::string kGolden = TRIM_SOURCE_DIR "/test/golden/jpeg/";

nlohmann::json golden_cases() {
  std::ifstream f(kGolden + "cases.json");
  REQUIRE(f);
  return nlohmann::json::parse(f)["cases"];
}

// A smooth colour picture (HWC) with a seed-dependent pattern: JPEG-friendly, and different per seed.
std::vector<uint8_t> picture(int64_t w, int64_t h, int seed) {
  std::vector<uint8_t> p(size_t(w * h * 3));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        p[size_t((y * w + x) * 3 + c)] =
            uint8_t(127.5 + 120 * std::sin(0.02 * (seed % 5 + 1) * x + 0.03 * y * (c + 1) + seed));
  return p;
}

// root/{train,val}/{a_cat,b_dog,c_ant}/NN.jpg: `per_class` training and 2 validation pictures per
// class, sizes varying around 80 x 60.
void write_tree(const fs::path& root, int per_class) {
  const char* classes[] = {"b_dog", "a_cat", "c_ant"};  // listed out of order on purpose
  int seed = 0;
  for (const char* split : {"train", "val"})
    for (const char* c : classes) {
      fs::create_directories(root / split / c);
      for (int k = 0; k < (std::string(split) == "train" ? per_class : 2); ++k, ++seed) {
        int64_t w = 80 + seed % 7 * 3, h = 60 + seed % 5 * 4;
        auto jpg = encode_jpeg(picture(w, h, seed).data(), w, h, 3, 95);
        write_bytes((root / split / c / (std::to_string(10 + k) + ".jpg")).string(), jpg);
      }
    }
  write_bytes((root / "train" / "a_cat" / "notes.txt").string(), {'x'});  // not an image: ignored
}

DataOptions small(bool augment) {
  DataOptions o;
  o.image_size = 24;
  o.resize = 28;
  o.augment = augment;
  return o;
}

}  // namespace

TEST_CASE("jpeg: libjpeg-turbo decodes as PIL does, and close to the pixels before encoding", "[imagefolder]") {
  for (const auto& c : golden_cases()) {
    const std::string name = c["name"];
    INFO(name);
    const int channels = c["channels"];
    const int64_t w = c["width"], h = c["height"];
    std::vector<uint8_t> jpg = read_bytes(kGolden + name + ".jpg");
    JpegHeader head = jpeg_header(jpg.data(), jpg.size(), name);
    CHECK((head.width == w && head.height == h));
    DecodedImage img = decode_jpeg(jpg.data(), jpg.size(), channels, double(w), double(h), w, h, name);
    REQUIRE((img.width == w && img.height == h && img.channels == channels));
    // PIL (its own libjpeg-turbo build) on the same file: the same IDCT and upsampling.
    Diff pil = diff(img.pixels, read_bytes(kGolden + name + ".pil"));
    CHECK(pil.max <= 1);
    CHECK(pil.mean < 0.01);
    // The pixels PIL encoded (quality 90 or 95): independent of any decoder.
    Diff orig = diff(img.pixels, read_bytes(kGolden + name + ".orig"));
    CHECK(orig.mean < 4.0);
    CHECK(orig.max < 64);
  }
}

TEST_CASE("resample: crop + resize and resize + centre crop match torchvision's bilinear (antialiased)",
          "[imagefolder]") {
  for (const auto& c : golden_cases()) {
    const std::string name = c["name"];
    INFO(name);
    const int channels = c["channels"];
    const int64_t w = c["width"], h = c["height"];
    const std::vector<uint8_t> src = read_bytes(kGolden + name + ".pil");  // resampling alone
    int k = 0;
    for (const auto& crop : c["crops"]) {
      const int64_t size = crop["size"], top = crop["top"], left = crop["left"];
      const int64_t ch = crop["height"], cw = crop["width"];
      std::vector<uint8_t> out(size_t(channels * size * size));
      resample_crop(src.data(), h, w, channels, Box{double(left), double(top), double(left + cw), double(top + ch)},
                    size, size, out.data());
      Diff d = diff(out, read_bytes(kGolden + name + ".crop" + std::to_string(k++)));
      // PIL's fixed-point weights and rounding. Pillow 13 runs the vertical pass first for some
      // shapes (we always run rows first, as Pillow <= 12 does), which moves a few values by 1.
      CHECK(d.max <= 1);
      CHECK(d.mean < 0.2);
    }
    const int64_t size = c["size"];
    std::vector<uint8_t> out(size_t(channels * size * size));
    resample_resize_crop(src.data(), h, w, channels, resize_center_crop(h, w, c["resize"], size), out.data());
    Diff d = diff(out, read_bytes(kGolden + name + ".eval"));
    CHECK(d.max <= 1);
    CHECK(d.mean < 0.2);
  }
}

TEST_CASE("resample, flip and random_resized_crop in closed form", "[imagefolder]") {
  // A crop at scale 1 is an exact copy; HWC in, CHW out.
  std::vector<uint8_t> img(6 * 5 * 2);
  for (size_t i = 0; i < img.size(); ++i) img[i] = uint8_t(i * 7);
  std::vector<uint8_t> out(2 * 3 * 2);
  resample_crop(img.data(), 5, 6, 2, Box{1, 2, 3, 5}, 3, 2, out.data());
  for (int ch = 0; ch < 2; ++ch)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 2; ++x)
        CHECK(out[size_t((ch * 3 + y) * 2 + x)] == img[size_t(((2 + y) * 6 + 1 + x) * 2 + ch)]);
  // Halving a ramp 8x: triangle of support 2, taps 1/8, 3/8, 3/8, 1/8 -> 16x + 4; at the left edge
  // the tap outside the image is dropped and the rest renormalised: (3 * 8 + 16) / 7 = 5.71 -> 6.
  std::vector<uint8_t> ramp(16);
  for (int x = 0; x < 16; ++x) ramp[size_t(x)] = uint8_t(8 * x);
  std::vector<uint8_t> half(8);
  resample_crop(ramp.data(), 1, 16, 1, Box{0, 0, 16, 1}, 1, 8, half.data());
  CHECK(half[0] == 6);
  for (int x = 1; x < 7; ++x) CHECK(half[size_t(x)] == 16 * x + 4);
  CHECK(half[7] == uint8_t(std::lround((8 * 13 + 3 * 8 * 14 + 3 * 8 * 15) / 7.0)));

  // RandomResizedCrop: inside the image, area fraction and aspect ratio within bounds (up to
  // rounding of the sides), a pure function of (seed, epoch, index).
  for (int64_t i = 0; i < 300; ++i) {
    ItemRandom rng(5, 2, i), again(5, 2, i);
    CropBox b = random_resized_crop(375, 500, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, rng);
    CropBox b2 = random_resized_crop(375, 500, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, again);
    REQUIRE((b.top == b2.top && b.left == b2.left && b.height == b2.height && b.width == b2.width));
    REQUIRE((b.top >= 0 && b.left >= 0 && b.top + b.height <= 375 && b.left + b.width <= 500));
    double area = double(b.height * b.width) / (375.0 * 500.0), ratio = double(b.width) / double(b.height);
    REQUIRE((area > 0.075 && area < 1.0 + 1e-9));
    REQUIRE((ratio > 0.74 && ratio < 1.35));
  }
  // No attempt can succeed (a full-area crop of ratio 2..3 does not fit a square): the fallback is
  // the centred crop of ratio 2, h = round(w / 2).
  ItemRandom rng(1, 0, 0);
  CropBox f = random_resized_crop(101, 101, 1.0, 1.0, 2.0, 3.0, rng);
  CHECK((f.width == 101 && f.height == 50 && f.top == 25 && f.left == 0));
  f = random_resized_crop(40, 200, 1.0, 1.0, 0.5, 1.0, rng);  // too wide: w = round(h * 1) = 40
  CHECK((f.width == 40 && f.height == 40 && f.top == 0 && f.left == 80));
  // Resize(36) + CenterCrop(32) of 96 x 72: 48 x 36, crop offsets (8, 2) -> box (16, 4)-(80, 68).
  ResizeCrop e = resize_center_crop(72, 96, 36, 32);
  CHECK((e.resized_h == 36 && e.resized_w == 48 && e.top == 2 && e.left == 8 && e.size == 32));
  e = resize_center_crop(500, 375, 256, 224);  // portrait: 256 x int(256 * 500 / 375) = 341
  CHECK((e.resized_w == 256 && e.resized_h == 341 && e.top == 58 && e.left == 16));
}

TEST_CASE("jpeg: DCT scaling picks the smallest factor that still covers the output", "[imagefolder]") {
  auto pic = picture(80, 60, 1);
  auto jpg = encode_jpeg(pic.data(), 80, 60, 3, 95);
  auto at = [&](double bw, double bh, int64_t nw, int64_t nh) {
    return decode_jpeg(jpg.data(), jpg.size(), 3, bw, bh, nw, nh, "t.jpg").width;
  };
  CHECK(at(80, 60, 80, 60) == 80);  // full size
  CHECK(at(80, 60, 10, 7) == 10);   // 1/8
  CHECK(at(80, 60, 20, 15) == 20);  // 1/4
  CHECK(at(80, 60, 21, 15) == 40);  // 1/2: 1/4 gives only 20 columns (3/8 has no SIMD IDCT: skipped)
  CHECK(at(40, 30, 20, 15) == 40);  // half the image must keep 20 columns: 1/2
  // A scaled decode resampled is close to the full decode resampled.
  DecodedImage full = decode_jpeg(jpg.data(), jpg.size(), 3, 80, 60, 80, 60, "t.jpg");
  DecodedImage part = decode_jpeg(jpg.data(), jpg.size(), 3, 80, 60, 24, 24, "t.jpg");
  REQUIRE(part.width == 40);  // 3/8 would leave 22.5 rows of 60
  std::vector<uint8_t> a(3 * 24 * 24), b(3 * 24 * 24);
  resample_crop(full.pixels.data(), 60, 80, 3, Box{10, 0, 70, 60}, 24, 24, a.data());
  resample_crop(part.pixels.data(), part.height, part.width, 3, Box{5, 0, 35, 30}, 24, 24, b.data());
  Diff d = diff(a, b);
  CHECK(d.mean < 3.0);
  CHECK(d.max < 40);
}

TEST_CASE("image_folder: classes sorted by name, labels, evaluation images, reproducible augmentation",
          "[imagefolder]") {
  test::TempDir tmp("imgfolder");
  write_tree(tmp.path(), 4);
  auto train = load_dataset("image_folder", tmp.path().string(), "train", small(true));
  auto val = load_dataset("image_folder", tmp.path().string(), "test", small(false));
  CHECK(train->size() == 12);
  CHECK(val->size() == 6);
  CHECK(train->num_classes() == 3);
  CHECK(train->item_shape() == Shape{3, 24, 24});
  std::vector<uint8_t> out(3 * 24 * 24), again(out.size()), ref(out.size());
  for (int64_t i = 0; i < 12; ++i) CHECK(train->get(i, out.data(), {}) == i / 4);  // a_cat, b_dog, c_ant

  // Evaluation: Resize(28) + CenterCrop(24) of the encoded picture, within JPEG error.
  for (int64_t i = 0; i < 6; ++i) {
    const int seed = 12 + int(i / 2 == 0   ? 2 + i % 2
                              : i / 2 == 1 ? i % 2
                                           : 4 + i % 2);  // val order: a_cat, b_dog, c_ant
    const int64_t w = 80 + seed % 7 * 3, h = 60 + seed % 5 * 4;
    auto pic = picture(w, h, seed);
    resample_resize_crop(pic.data(), h, w, 3, resize_center_crop(h, w, 28, 24), ref.data());
    val->get(i, out.data(), {});
    Diff d = diff(out, ref);
    CHECK(d.mean < 4.0);
  }

  // Training: a function of (seed, epoch, index); flips are mirror images of the unflipped crop.
  int flipped = 0, changed = 0;
  DataOptions no_flip = small(true);
  no_flip.flip = false;
  auto unflipped = load_dataset("image_folder", tmp.path().string(), "train", no_flip);
  for (int64_t epoch = 0; epoch < 4; ++epoch)
    for (int64_t i = 0; i < 12; ++i) {
      train->get(i, out.data(), {9, epoch});
      train->get(i, again.data(), {9, epoch});
      REQUIRE(out == again);
      unflipped->get(i, ref.data(), {9, epoch});
      if (out != ref) {
        flip_horizontal(ref.data(), 3, 24, 24);
        REQUIRE(out == ref);
        ++flipped;
      }
      train->get(i, again.data(), {9, epoch + 10});
      changed += out != again;
    }
  CHECK(flipped > 8);
  CHECK(flipped < 40);
  CHECK(changed > 40);

  // Through the loader: worker-count independence and resuming mid-epoch.
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 11;
  o.workers = 1;
  DataLoader one(train, o);
  o.workers = 3;
  DataLoader three(train, o);
  auto a = test::epoch_batches(one, 1), b = test::epoch_batches(three, 1);
  REQUIRE(a.size() == 3);
  CHECK(a == b);
  auto resumed = test::epoch_batches(three, 1, 1);
  REQUIRE(resumed.size() == 2);
  CHECK(resumed[0] == a[1]);
  CHECK(resumed[1] == a[2]);

  // Greyscale: the JPEG's luma.
  DataOptions grey = small(false);
  grey.channels = 1;
  auto g = load_dataset("image_folder", tmp.path().string(), "test", grey);
  CHECK(g->item_shape() == Shape{1, 24, 24});
  std::vector<uint8_t> y(24 * 24);
  g->get(0, y.data(), {});
  val->get(0, out.data(), {});
  double err = 0;
  for (size_t p = 0; p < y.size(); ++p)
    err += std::abs(y[p] - (0.299 * out[p] + 0.587 * out[576 + p] + 0.114 * out[1152 + p]));
  CHECK(err / double(y.size()) < 3.0);
}

TEST_CASE("image_folder: bad files are errors naming the file, or counted skips", "[imagefolder]") {
  test::TempDir tmp("imgbad");
  write_tree(tmp.path(), 4);
  const fs::path cat = tmp.path() / "train" / "a_cat", dog = tmp.path() / "train" / "b_dog";
  std::vector<uint8_t> good = read_bytes((cat / "11.jpg").string());
  write_bytes((cat / "11.jpg").string(), std::vector<uint8_t>(good.begin(), good.begin() + ptrdiff_t(good.size() / 2)));
  write_bytes((dog / "10.jpg").string(), std::vector<uint8_t>(3000, 0x5A));  // garbage
  write_bytes((dog / "12.jpg").string(), {});                                // empty
  fs::create_directories(tmp.path() / "train" / "d_empty");
  const std::string root = tmp.path().string();

  CHECK_THROWS_WITH(load_dataset("image_folder", root, "train", small(true)),
                    Contains("d_empty holds no .jpg, .jpeg or .png files") && Contains("skip_bad_files"));
  fs::create_directories(tmp.path() / "val" / "e_unknown");
  CHECK_THROWS_WITH(load_dataset("image_folder", root, "test", small(false)),
                    Contains("e_unknown") && Contains("not a class of"));
  fs::remove(tmp.path() / "val" / "e_unknown");
  fs::rename(tmp.path() / "val" / "c_ant", tmp.path() / "c_ant_val");  // a class of train/ missing in val/
  CHECK_THROWS_WITH(load_dataset("image_folder", root, "test", small(false)),
                    Contains("class folder") && Contains("c_ant is missing"));
  DataOptions lenient_val = small(false);
  lenient_val.skip_bad_files = true;
  CHECK(load_dataset("image_folder", root, "test", lenient_val)->size() == 4);
  fs::rename(tmp.path() / "c_ant_val", tmp.path() / "val" / "c_ant");
  fs::remove(tmp.path() / "train" / "d_empty");

  auto strict = load_dataset("image_folder", root, "train", small(true));
  std::vector<uint8_t> out(3 * 24 * 24);
  CHECK_THROWS_WITH(strict->get(1, out.data(), {}),
                    Contains((cat / "11.jpg").string()) && Contains("not a readable JPEG"));
  CHECK_THROWS_WITH(strict->get(4, out.data(), {}), Contains((dog / "10.jpg").string()));
  CHECK_THROWS_WITH(strict->get(6, out.data(), {}), Contains((dog / "12.jpg").string()) && Contains("empty"));
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  DataLoader loader(strict, o);
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), Contains("epoch 0 batch 0") && Contains("11.jpg"));

  DataOptions skip = small(true);
  skip.skip_bad_files = true;
  fs::create_directories(tmp.path() / "train" / "d_empty");
  auto lenient = load_dataset("image_folder", root, "train", skip);  // the empty class is skipped
  CHECK(lenient->num_classes() == 4);                                // its label stays reserved
  CHECK(lenient->size() == 12);
  int64_t skipped = 0;
  std::vector<uint8_t> next(out.size());
  CHECK(lenient->get(1, out.data(), {3, 0, &skipped}) == 0);  // replaced by example 2
  CHECK(skipped == 1);
  lenient->get(2, next.data(), {3, 0});
  CHECK(out == next);
  CHECK(lenient->get(6, out.data(), {3, 0, &skipped}) == 1);  // 12.jpg -> 13.jpg
  CHECK(skipped == 2);
  for (int workers : {1, 3}) {
    o.workers = workers;
    o.shuffle = true;
    DataLoader l(lenient, o);
    int64_t total = 0;
    for (const auto& b : test::epoch_batches(l, 0)) total += b.skipped;
    CHECK(total == 3);  // each bad file once per epoch
  }

  test::TempDir none("imgnone");
  fs::create_directories(none.path() / "train");
  CHECK_THROWS_WITH(load_dataset("image_folder", none.path().string(), "train", skip), Contains("no class folders"));
  CHECK_THROWS_WITH(load_dataset("image_folder", none.path().string(), "test", skip),
                    Contains("val") && Contains("expected a folder of class folders"));
}

TEST_CASE("synthetic: fixed images and labels from (seed, index)", "[imagefolder]") {
  DataOptions o;
  o.shape = {2, 5, 3};
  o.classes = 4;
  o.size = 50;
  o.test_size = 7;
  auto train = load_dataset("synthetic", "", "train", o);
  auto test = load_dataset("synthetic", "", "test", o);
  CHECK(train->size() == 50);
  CHECK(test->size() == 7);
  CHECK(train->item_shape() == Shape{2, 5, 3});
  std::vector<uint8_t> a(30), b(30), c(30);
  std::vector<int> seen(4);
  for (int64_t i = 0; i < 50; ++i) {
    int32_t l = train->get(i, a.data(), {1, 0});
    REQUIRE((l >= 0 && l < 4));
    ++seen[size_t(l)];
    REQUIRE(train->get(i, b.data(), {1, 5}) == l);  // epochs do not change it
    REQUIRE(a == b);
  }
  for (int n : seen) CHECK(n > 3);
  train->get(0, a.data(), {1, 0});
  train->get(1, b.data(), {1, 0});
  test->get(0, c.data(), {1, 0});
  CHECK(a != b);
  CHECK(a != c);
  train->get(0, b.data(), {2, 0});
  CHECK(a != b);
}

TEST_CASE("image_folder: PNGs, also one named .JPEG, decode losslessly", "[imagefolder]") {
  auto pic = picture(50, 40, 3);
  DecodedImage d =
      decode_png(encode_png(pic.data(), 50, 40, 3).data(), encode_png(pic.data(), 50, 40, 3).size(), 3, "p");
  CHECK((d.width == 50 && d.height == 40));
  CHECK(d.pixels == pic);
  std::vector<uint8_t> grey(50 * 40);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = pic[i * 3];
  auto gpng = encode_png(grey.data(), 50, 40, 1);
  CHECK(decode_png(gpng.data(), gpng.size(), 1, "g").pixels == grey);

  test::TempDir tmp("imgpng");
  for (const char* split : {"train", "val"}) {
    fs::create_directories(tmp.path() / split / "a");
    write_bytes((tmp.path() / split / "a" / "0.png").string(), encode_png(pic.data(), 50, 40, 3));
    write_bytes((tmp.path() / split / "a" / "1.JPEG").string(), encode_png(pic.data(), 50, 40, 3));  // ImageNet has one
  }
  auto val = load_dataset("image_folder", tmp.path().string(), "test", small(false));
  REQUIRE(val->size() == 2);
  std::vector<uint8_t> out(3 * 24 * 24), ref(out.size());
  resample_resize_crop(pic.data(), 40, 50, 3, resize_center_crop(40, 50, 28, 24), ref.data());
  for (int64_t i = 0; i < 2; ++i) {
    val->get(i, out.data(), {});
    CHECK(out == ref);
  }
  auto bytes = encode_png(pic.data(), 50, 40, 3);
  bytes.resize(bytes.size() / 2);
  write_bytes((tmp.path() / "train" / "a" / "1.JPEG").string(), bytes);
  auto train = load_dataset("image_folder", tmp.path().string(), "train", small(true));
  CHECK_THROWS_WITH(train->get(1, out.data(), {}), Contains("1.JPEG") && Contains("not a readable PNG"));
}
