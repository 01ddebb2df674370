// The IDX reader (gzip and plain files, every refusal) and the Fashion-MNIST dataset built on it.
#include <zlib.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "data/datasets.h"
#include "data/fashion_mnist.h"
#include "data/idx.h"

using namespace trim;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp folder, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("trim-test-idx-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// The bytes of an IDX file: big-endian magic, big-endian u32 dimensions, then `data`.
std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  auto put32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
  };
  put32(magic);
  for (uint32_t d : dims) put32(d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_plain(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 7 + 3);
  return v;
}

// The message read_idx throws for `path`; fails the test when it does not throw trim::Error.
std::string idx_error(const std::string& path, int expected_ndim = -1) {
  try {
    read_idx(path, expected_ndim);
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("read_idx(" << path << ") did not throw trim::Error");
  return {};
}

using Catch::Matchers::Contains;

}  // namespace

TEST_CASE("read_idx round-trips gzip and plain files", "[data]") {
  TempDir dir;
  const std::vector<uint8_t> data = iota_bytes(2 * 3 * 4);
  const std::vector<uint8_t> bytes = idx_bytes(0x00000803, {2, 3, 4}, data);
  write_gz(dir.file("a.gz"), bytes);
  write_plain(dir.file("a"), bytes);
  for (const char* name : {"a.gz", "a"}) {
    IdxArray a = read_idx(dir.file(name), 3);
    CHECK(a.dims == std::vector<int64_t>{2, 3, 4});
    CHECK(a.data == data);
  }
  write_gz(dir.file("l.gz"), idx_bytes(0x00000801, {5}, {0, 1, 2, 9, 4}));
  IdxArray labels = read_idx(dir.file("l.gz"));
  CHECK(labels.dims == std::vector<int64_t>{5});
  CHECK(labels.data == std::vector<uint8_t>{0, 1, 2, 9, 4});
}

TEST_CASE("read_idx refuses bad files with clear messages", "[data]") {
  TempDir dir;
  const std::vector<uint8_t> data = iota_bytes(24);

  SECTION("missing file names the path") {
    std::string p = dir.file("nope.gz");
    CHECK_THAT(idx_error(p), Contains(p) && Contains("no such file"));
  }
  SECTION("wrong magic says expected and found in hex") {
    write_gz(dir.file("m.gz"), idx_bytes(0x00000801, {24}, data));
    CHECK_THAT(idx_error(dir.file("m.gz"), 3), Contains("m.gz") && Contains("expected 0x00000803") &&
                                                   Contains("found 0x00000801") && Contains("(u8, 1 dimension)"));
  }
  SECTION("a data type other than u8") {
    write_gz(dir.file("f.gz"), idx_bytes(0x00000D03, {2, 3, 1}, data));
    CHECK_THAT(idx_error(dir.file("f.gz")), Contains("0x0D") && Contains("f32") && Contains("expected 0x08 (u8)"));
  }
  SECTION("truncated data: expected and found sizes and the offset") {
    write_gz(dir.file("t.gz"), idx_bytes(0x00000803, {2, 3, 4}, iota_bytes(10)));
    CHECK_THAT(idx_error(dir.file("t.gz")), Contains("[2, 3, 4]") && Contains("expected 24 bytes") &&
                                                Contains("found 10") && Contains("offset 16"));
  }
  SECTION("data longer than the product of the dimensions") {
    write_plain(dir.file("x"), idx_bytes(0x00000803, {2, 3, 4}, iota_bytes(30)));
    CHECK_THAT(idx_error(dir.file("x")),
               Contains("expected 24 bytes") && Contains("found 30") && Contains("6 extra bytes from offset 40"));
  }
  SECTION("truncated header") {
    std::vector<uint8_t> b = idx_bytes(0x00000803, {2, 3, 4}, {});
    b.resize(9);
    write_gz(dir.file("h.gz"), b);
    CHECK_THAT(idx_error(dir.file("h.gz")), Contains("truncated IDX header") && Contains("found 5"));
  }
  SECTION("non-gzip garbage") {
    std::string text = "this is not an IDX file, nor gzip";
    write_plain(dir.file("g.gz"), std::vector<uint8_t>(text.begin(), text.end()));
    CHECK_THAT(idx_error(dir.file("g.gz")),
               Contains("g.gz") && Contains("not an IDX file") && Contains("0x74686973") &&
                   Contains("not gzip-compressed"));
  }
  SECTION("corrupt gzip stream") {
    std::vector<uint8_t> b = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_plain(dir.file("c.gz"), b);
    CHECK_THAT(idx_error(dir.file("c.gz")), Contains("c.gz") && Contains("gzip"));
  }
  SECTION("truncated gzip stream") {
    std::vector<uint8_t> big(20000);
    for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t((i * 2654435761u) >> 13);  // poorly compressible
    write_gz(dir.file("z.gz"), idx_bytes(0x00000801, {20000}, big));
    fs::resize_file(dir.file("z.gz"), fs::file_size(dir.file("z.gz")) / 2);
    CHECK_THAT(idx_error(dir.file("z.gz")), Contains("z.gz") && Contains("gzip stream ends early"));
  }
  SECTION("empty file and a folder") {
    write_plain(dir.file("e"), {});
    CHECK_THAT(idx_error(dir.file("e")), Contains("empty"));
    fs::create_directories(dir.file("sub"));
    CHECK_THAT(idx_error(dir.file("sub")), Contains("found a directory"));
  }
}

namespace {

// The first training label, read with zlib directly rather than through read_idx.
int first_train_label() {
  gzFile f = gzopen((std::string(kFashionMnistDir) + "/train-labels-idx1-ubyte.gz").c_str(), "rb");
  REQUIRE(f != nullptr);
  std::array<uint8_t, 9> head{};
  int got = gzread(f, head.data(), unsigned(head.size()));
  gzclose(f);
  REQUIRE(got == 9);
  return head[8];
}

}  // namespace

TEST_CASE("Fashion-MNIST loads both splits", "[data]") {
  std::shared_ptr<Dataset> train = load_fashion_mnist(kFashionMnistDir, "train");
  std::shared_ptr<Dataset> test = load_fashion_mnist(kFashionMnistDir, "test");
  CHECK(train->size() == 60000);
  CHECK(test->size() == 10000);
  CHECK(train->item_shape() == Shape{1, 28, 28});
  CHECK(test->item_shape() == Shape{1, 28, 28});
  CHECK(train->num_classes() == 10);

  std::vector<uint8_t> image(28 * 28);
  std::array<int64_t, 10> histogram{};
  for (int64_t i = 0; i < train->size(); ++i) {
    int32_t label = train->get(i, image.data(), {});
    REQUIRE((label >= 0 && label < 10));
    ++histogram[size_t(label)];
  }
  for (int64_t count : histogram) CHECK(count == 6000);
  for (int64_t i = 0; i < test->size(); ++i) REQUIRE(test->get(i, image.data(), {}) < 10);

  CHECK(first_train_label() == 9);  // an ankle boot
  CHECK(train->get(0, image.data(), {}) == first_train_label());
}

TEST_CASE("Fashion-MNIST refusals name the file and the fix", "[data]") {
  TempDir dir;
  try {
    load_fashion_mnist(dir.file("missing"), "train");
    FAIL("no error for a missing folder");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Contains("train-images-idx3-ubyte.gz") && Contains("scripts/setup.sh") &&
                             Contains("dataset-fashion-mnist"));
  }
  CHECK_THROWS_WITH(load_fashion_mnist(kFashionMnistDir, "valid"), Contains("\"train\" or \"test\""));

  // A label file whose label 2 is out of range.
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_bytes(0x00000803, {3, 28, 28}, iota_bytes(3 * 28 * 28)));
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes(0x00000801, {3}, {1, 2, 10}));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.file(""), "test"),
                    Contains("t10k-labels-idx1-ubyte.gz") && Contains("label 2") && Contains("is 10"));
  // Counts that disagree, and images of the wrong size.
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes(0x00000801, {2}, {1, 2}));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.file(""), "test"), Contains("2 labels for the 3 images"));
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_bytes(0x00000803, {2, 28, 27}, iota_bytes(2 * 28 * 27)));
  CHECK_THROWS_WITH(load_fashion_mnist(dir.file(""), "test"), Contains("[2, 28, 27]") && Contains("[N, 28, 28]"));
}

TEST_CASE("datasets are found by name", "[data]") {
  CHECK(load_dataset("fashion_mnist", kFashionMnistDir, "test")->size() == 10000);
  CHECK_THROWS_WITH(load_dataset("cifar7", kFashionMnistDir, "test"),
                    Contains("unknown dataset \"cifar7\"") && Contains("\"fashion_mnist\""));
}
