// CIFAR-10 / CIFAR-100 binary files (plain and inside a .tar.gz the test writes), their checks, the
// pad-and-crop + flip augmentation, and reproducibility through the loader.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <set>

#include "core/error.h"
#include "data/augment.h"
#include "data/cifar.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "test/support/data_batches.h"
#include "test/support/fixtures.h"

using namespace trim;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t kPixels = 3072;

// Pixel p of global record g: a pattern that tells records and positions apart.
uint8_t pixel(int64_t g, int64_t p) { return uint8_t((g * 37 + p * 13 + (p >> 10) * 101) & 0xFF); }

// Records g0..g0+n-1 of a CIFAR-10 (label_bytes 1) or CIFAR-100 (2) file; label of g is g % classes.
std::vector<uint8_t> records(int64_t g0, int64_t n, int label_bytes, int classes) {
  std::vector<uint8_t> out;
  for (int64_t g = g0; g < g0 + n; ++g) {
    if (label_bytes == 2) out.push_back(uint8_t(g % 20));  // coarse
    out.push_back(uint8_t(g % classes));
    for (int64_t p = 0; p < kPixels; ++p) out.push_back(pixel(g, p));
  }
  return out;
}

void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// A ustar archive of the given members, gzip-compressed.
void write_tar_gz(const std::string& path, const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members,
                  size_t cut_to = 0) {
  std::vector<uint8_t> tar;
  for (const auto& [name, data] : members) {
    uint8_t h[512] = {};
    std::memcpy(h, name.data(), name.size());
    std::snprintf(reinterpret_cast<char*>(h + 100), 8, "%07o", 0644);
    std::snprintf(reinterpret_cast<char*>(h + 124), 12, "%011lo", static_cast<unsigned long>(data.size()));
    std::snprintf(reinterpret_cast<char*>(h + 136), 12, "%011o", 0);
    h[156] = '0';
    std::memcpy(h + 257,
                "ustar\0"
                "00",
                8);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (uint8_t b : h) sum += b;
    std::snprintf(reinterpret_cast<char*>(h + 148), 8, "%06o", sum);
    tar.insert(tar.end(), h, h + 512);
    tar.insert(tar.end(), data.begin(), data.end());
    tar.resize((tar.size() + 511) / 512 * 512, 0);
  }
  tar.resize(tar.size() + 1024, 0);
  if (cut_to) tar.resize(cut_to);
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, tar.data(), unsigned(tar.size())) == int(tar.size()));
  gzclose(f);
}

// CIFAR-10 with 5 training files of 3 records each and a test file of 2.
void write_cifar10(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (int k = 1; k <= 5; ++k)
    write((dir / ("data_batch_" + std::to_string(k) + ".bin")).string(), records(3 * (k - 1), 3, 1, 10));
  write((dir / "test_batch.bin").string(), records(100, 2, 1, 10));
}

DataOptions plain() {
  DataOptions o;
  o.augment = false;
  return o;
}

void check_records(const Dataset& d, int64_t g0, int classes) {
  std::vector<uint8_t> img(kPixels);
  for (int64_t i = 0; i < d.size(); ++i) {
    REQUIRE(d.get(i, img.data(), {}) == (g0 + i) % classes);
    for (int64_t p = 0; p < kPixels; ++p) REQUIRE(img[size_t(p)] == pixel(g0 + i, p));
  }
}

}  // namespace

TEST_CASE("cifar10: extracted .bin files, in the folder or its cifar-10-batches-bin/", "[cifar]") {
  test::TempDir tmp("cifar10");
  write_cifar10(tmp.path());
  auto train = load_dataset("cifar10", tmp.path().string(), "train", plain());
  auto test = load_dataset("cifar10", tmp.path().string(), "test", plain());
  CHECK(train->size() == 15);
  CHECK(test->size() == 2);
  CHECK(train->item_shape() == Shape{3, 32, 32});
  CHECK(train->num_classes() == 10);
  check_records(*train, 0, 10);
  check_records(*test, 100, 10);

  test::TempDir nested("cifar10n");
  write_cifar10(nested.path() / "cifar-10-batches-bin");
  check_records(*load_dataset("cifar10", nested.path().string(), "train", plain()), 0, 10);
}

TEST_CASE("cifar10 and cifar100 from the .tar.gz", "[cifar]") {
  test::TempDir tmp("cifartar");
  std::vector<std::pair<std::string, std::vector<uint8_t>>> m;
  m.push_back({"cifar-10-batches-bin/batches.meta.txt", {'a', 'b'}});
  for (int k = 1; k <= 5; ++k)
    m.push_back({"cifar-10-batches-bin/data_batch_" + std::to_string(k) + ".bin", records(3 * (k - 1), 3, 1, 10)});
  m.push_back({"cifar-10-batches-bin/test_batch.bin", records(100, 2, 1, 10)});
  write_tar_gz(tmp.file("cifar-10-binary.tar.gz"), m);
  check_records(*load_dataset("cifar10", tmp.path().string(), "train", plain()), 0, 10);
  check_records(*load_dataset("cifar10", tmp.file("cifar-10-binary.tar.gz"), "test", plain()), 100, 10);

  write_tar_gz(tmp.file("cifar-100-binary.tar.gz"), {{"cifar-100-binary/train.bin", records(0, 7, 2, 100)},
                                                     {"cifar-100-binary/test.bin", records(200, 3, 2, 100)}});
  auto train = load_dataset("cifar100", tmp.path().string(), "train", plain());
  CHECK(train->num_classes() == 100);
  check_records(*train, 0, 100);  // the fine label (g % 100), not the coarse one (g % 20)
  check_records(*load_dataset("cifar100", tmp.path().string(), "test", plain()), 200, 100);

  // Cut inside the second member's data.
  test::TempDir cut("cifarcut");
  write_tar_gz(cut.file("cifar-10-binary.tar.gz"), m, 512 * 3 + 3073 * 3 + 100);
  CHECK_THROWS_WITH(load_dataset("cifar10", cut.path().string(), "train", plain()),
                    Contains("cifar-10-binary.tar.gz") && Contains("data_batch_1.bin") && Contains("cut short"));
  // Not an archive at all.
  write(cut.file("cifar-100-binary.tar.gz"), std::vector<uint8_t>(2000, 'x'));
  CHECK_THROWS_WITH(load_dataset("cifar100", cut.path().string(), "train", plain()),
                    Contains("cifar-100-binary.tar.gz") && Contains("not a tar archive"));
}

TEST_CASE("cifar: bad sizes, labels and missing files name the file and the record", "[cifar]") {
  test::TempDir tmp("cifarbad");
  write_cifar10(tmp.path());
  std::vector<uint8_t> bad = records(6, 2, 1, 10);
  bad.resize(bad.size() + 5, 0);
  write(tmp.file("data_batch_3.bin"), bad);
  CHECK_THROWS_WITH(load_dataset("cifar10", tmp.path().string(), "train", plain()),
                    Contains("data_batch_3.bin") && Contains("multiple of 3073 bytes") &&
                        Contains("found 6151 bytes (2 records and 5 bytes left over)"));
  write(tmp.file("data_batch_3.bin"), {});
  CHECK_THROWS_WITH(load_dataset("cifar10", tmp.path().string(), "train", plain()),
                    Contains("data_batch_3.bin") && Contains("found 0 bytes"));
  bad = records(6, 3, 1, 10);
  bad[3073] = 10;  // record 1's label
  write(tmp.file("data_batch_3.bin"), bad);
  CHECK_THROWS_WITH(load_dataset("cifar10", tmp.path().string(), "train", plain()),
                    Contains("data_batch_3.bin: record 1 (offset 3073): label 10, expected 0..9"));
  std::filesystem::remove(tmp.file("data_batch_3.bin"));
  CHECK_THROWS_WITH(load_dataset("cifar10", tmp.path().string(), "train", plain()), Contains("data_batch_3.bin"));

  bad = records(0, 3, 2, 100);
  bad[2 * 3074 + 1] = 100;
  write(tmp.file("train.bin"), bad);
  CHECK_THROWS_WITH(load_dataset("cifar100", tmp.path().string(), "train", plain()),
                    Contains("train.bin: record 2 (offset 6149): fine label 100, expected 0..99"));
  bad[2 * 3074 + 1] = 5;
  bad[3074] = 20;
  write(tmp.file("train.bin"), bad);
  CHECK_THROWS_WITH(load_dataset("cifar100", tmp.path().string(), "train", plain()),
                    Contains("record 1 (offset 3074): coarse label 20, expected 0..19"));
  write(tmp.file("train.bin"), records(0, 3, 1, 10));  // a CIFAR-10 file: 3 x 3073 bytes
  CHECK_THROWS_WITH(load_dataset("cifar100", tmp.path().string(), "train", plain()),
                    Contains("multiple of 3074 bytes"));

  test::TempDir empty("cifarnone");
  CHECK_THROWS_WITH(load_dataset("cifar100", empty.path().string(), "test", plain()),
                    Contains("not found") && Contains("test.bin") && Contains("cifar-100-binary.tar.gz"));
}

TEST_CASE("pad_crop: zero and reflect padding in closed form", "[cifar]") {
  // 1 x 3 x 3 image, values 1..9; padded by 2.
  std::vector<uint8_t> src{1, 2, 3, 4, 5, 6, 7, 8, 9}, out(9);
  pad_crop(src.data(), 1, 3, 3, 2, PadMode::zero, 0, 0, 3, 3, out.data());
  CHECK(out == std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 1});
  pad_crop(src.data(), 1, 3, 3, 2, PadMode::zero, 2, 2, 3, 3, out.data());
  CHECK(out == src);
  // Reflect without repeating the edge: row [1 2 3] padded by 2 is [3 2 1 2 3 2 1].
  pad_crop(src.data(), 1, 3, 3, 2, PadMode::reflect, 0, 0, 3, 3, out.data());
  CHECK(out == std::vector<uint8_t>{9, 8, 7, 6, 5, 4, 3, 2, 1});
  pad_crop(src.data(), 1, 3, 3, 2, PadMode::reflect, 4, 1, 3, 3, out.data());
  CHECK(out == std::vector<uint8_t>{8, 7, 8, 5, 4, 5, 2, 1, 2});  // rows 2, 1, 0; columns 1, 0, 1
  std::vector<uint8_t> img{1, 2, 3, 4, 5, 6};
  flip_horizontal(img.data(), 2, 1, 3);
  CHECK(img == std::vector<uint8_t>{3, 2, 1, 6, 5, 4});
}

TEST_CASE("cifar: training crops and flips are a padded crop of the image, a function of (seed, epoch, index)",
          "[cifar]") {
  test::TempDir tmp("cifaraug");
  write_cifar10(tmp.path());
  auto train = load_dataset("cifar10", tmp.path().string(), "train", DataOptions{});
  auto fixed = load_dataset("cifar10", tmp.path().string(), "train", plain());
  std::vector<uint8_t> src(kPixels), out(kPixels), again(kPixels), cand(kPixels);
  std::set<std::pair<int64_t, int64_t>> offsets;
  int flips = 0, draws = 0;
  for (int64_t epoch = 0; epoch < 12; ++epoch)
    for (int64_t i = 0; i < train->size(); ++i) {
      fixed->get(i, src.data(), {});
      train->get(i, out.data(), {7, epoch});
      train->get(i, again.data(), {7, epoch});
      REQUIRE(out == again);
      // Exactly one (top, left, flip) reproduces it.
      int matches = 0;
      for (int64_t top = 0; top <= 8; ++top)
        for (int64_t left = 0; left <= 8; ++left)
          for (bool flip : {false, true}) {
            pad_crop(src.data(), 3, 32, 32, 4, PadMode::zero, top, left, 32, 32, cand.data());
            if (flip) flip_horizontal(cand.data(), 3, 32, 32);
            if (cand == out) ++matches, offsets.insert({top, left}), flips += flip;
          }
      REQUIRE(matches == 1);
      ++draws;
    }
  CHECK(offsets.size() > 50);  // of 81: all offsets are drawn
  CHECK(flips > draws / 4);
  CHECK(flips < 3 * draws / 4);
  train->get(0, out.data(), {7, 0});
  int differ = 0;
  for (uint64_t seed = 8; seed < 16; ++seed) {
    train->get(0, again.data(), {seed, 0});
    differ += out != again;
  }
  CHECK(differ >= 6);
}

TEST_CASE("cifar: loader batches do not depend on worker count and resume mid-epoch", "[cifar]") {
  test::TempDir tmp("cifarload");
  write_cifar10(tmp.path());
  auto train = load_dataset("cifar10", tmp.path().string(), "train", DataOptions{});
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 3;
  o.workers = 1;
  DataLoader one(train, o);
  o.workers = 3;
  o.prefetch = 2;
  DataLoader three(train, o);
  auto a = test::epoch_batches(one, 2), b = test::epoch_batches(three, 2);
  REQUIRE(a.size() == 4);
  CHECK(a == b);
  auto resumed = test::epoch_batches(three, 2, 2);
  REQUIRE(resumed.size() == 2);
  CHECK(resumed[0] == a[2]);
  CHECK(resumed[1] == a[3]);
  CHECK(test::epoch_batches(one, 3)[0].images != a[0].images);  // another epoch, other crops
}
