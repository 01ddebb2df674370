// Checkpoint I/O: safetensors round trips, the byte layout against the spec (checked by an
// independent reader and a hand-built file, not only by our own reader), refusal of malformed
// files, and atomic writes.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"

using namespace trim;
namespace fs = std::filesystem;

namespace {

// A fresh directory (mkdtemp, so parallel test processes never share one), removed at scope exit.
struct TempDir {
  fs::path dir;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "trim-io-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(n >> (8 * i));
  return s;
}

uint64_t read_le64(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  return n;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}

std::string bytes_of(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

// A safetensors file from a header text and data bytes, exactly as given (no padding added).
std::string st_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// Loading `path` must throw trim::Error whose message starts with the path and contains `parts`.
void expect_refused(const std::string& path, std::initializer_list<std::string> parts) {
  std::string msg;
  try {
    load_safetensors(path);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  REQUIRE(!msg.empty());
  CHECK(msg.rfind(path + ": ", 0) == 0);
  for (const std::string& p : parts) CHECK_THAT(msg, Catch::Contains(p));
}

std::vector<NamedTensor> sample_tensors() {
  std::vector<float> w(2 * 3 * 4 * 5 * 6);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.37f - 11.0f;
  // Values whose bits a lossy path would change.
  w[0] = -0.0f;
  w[1] = std::numeric_limits<float>::infinity();
  w[2] = std::numeric_limits<float>::denorm_min();
  uint32_t nan_bits = 0x7fc01234u;
  std::memcpy(&w[3], &nan_bits, 4);
  std::vector<uint8_t> b(720);
  for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t(i * 7);
  return {
      {"scalar", Tensor::from_vector<float>(Shape{}, {3.5f})},
      {"empty", Tensor::empty(Shape{0}, DType::f32)},
      {"ints", Tensor::from_vector<int32_t>(Shape{3}, {-1, std::numeric_limits<int32_t>::max(),
                                                       std::numeric_limits<int32_t>::min()})},
      {"layer.weight", Tensor::from_vector<float>(Shape{2, 3, 4, 5, 6}, w)},
      {"also_empty", Tensor::empty(Shape{3, 0}, DType::u8)},
      {"bytes", Tensor::from_vector<uint8_t>(Shape{2, 3, 4, 5, 6}, b)},
  };
}

void require_same(const NamedTensor& a, const NamedTensor& b) {
  INFO("tensor " << a.name);
  REQUIRE(a.name == b.name);
  REQUIRE(a.tensor.shape() == b.tensor.shape());
  REQUIRE(a.tensor.dtype() == b.tensor.dtype());
  REQUIRE(bytes_of(a.tensor.raw_data(), a.tensor.nbytes()) == bytes_of(b.tensor.raw_data(), b.tensor.nbytes()));
}

const std::string kEntryW = R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";

}  // namespace

TEST_CASE("safetensors round trip keeps order, dtypes, shapes, bits and metadata", "[io]") {
  TempDir tmp;
  std::string path = tmp.file("ckpt.safetensors");
  auto tensors = sample_tensors();
  std::map<std::string, std::string> meta{{"format", "pt"}, {"step", "42"}, {"note", "gr\u00fc\u00dfe"}};
  save_safetensors(path, tensors, meta);

  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) require_same(f.tensors[i], tensors[i]);
  CHECK(f.metadata == meta);
  REQUIRE(f.find("ints") != nullptr);
  CHECK(f.find("ints")->to_vector<int32_t>() == tensors[2].tensor.to_vector<int32_t>());
  CHECK(f.find("missing") == nullptr);
  CHECK(f.find("scalar")->shape().ndim() == 0);
  CHECK(f.find("scalar")->item() == 3.5f);

  std::string bytes = read_file(path);
  uint64_t n = read_le64(bytes);
  CHECK((8 + n) % 8 == 0);
  size_t data = 0;
  for (const auto& t : tensors) data += t.tensor.nbytes();
  CHECK(bytes.size() == 8 + n + data);
  CHECK(tmp.listing() == std::vector<std::string>{"ckpt.safetensors"});

  // No tensors and no metadata is a valid (if useless) file too.
  save_safetensors(tmp.file("none.safetensors"), {});
  SafetensorsFile none = load_safetensors(tmp.file("none.safetensors"));
  CHECK(none.tensors.empty());
  CHECK(none.metadata.empty());
}

TEST_CASE("save_safetensors writes the layout the spec describes", "[io]") {
  TempDir tmp;
  std::string path = tmp.file("spec.safetensors");
  save_safetensors(path,
                   {{"b", Tensor::from_vector<float>(Shape{2}, {1.0f, -2.0f})},
                    {"a", Tensor::from_vector<int32_t>(Shape{1, 1}, {258})},
                    {"z", Tensor::empty(Shape{0, 4}, DType::u8)},
                    {"m", Tensor::from_vector<uint8_t>(Shape{3}, {7, 8, 9})}},
                   {{"k", "v"}});

  // An independent reader: u64 length, JSON header, offsets relative to the data section.
  std::string bytes = read_file(path);
  REQUIRE(bytes.size() >= 8);
  uint64_t n = read_le64(bytes);
  REQUIRE(8 + n <= bytes.size());
  CHECK((8 + n) % 8 == 0);
  std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  size_t json_end = header.find_last_not_of(' ') + 1;
  CHECK(json_end > n - 8);  // at most 7 bytes of space padding
  nlohmann::json h = nlohmann::json::parse(header);
  // The metadata given, then the data checksum (zlib's CRC-32 of the data section).
  CHECK(h["__metadata__"]["k"] == "v");
  CHECK(h["__metadata__"].size() == 3);  // and the header checksum
  CHECK(h.size() == 5);
  CHECK(h["b"] == nlohmann::json::parse(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"));
  CHECK(h["a"] == nlohmann::json::parse(R"({"dtype":"I32","shape":[1,1],"data_offsets":[8,12]})"));
  CHECK(h["z"] == nlohmann::json::parse(R"({"dtype":"U8","shape":[0,4],"data_offsets":[12,12]})"));
  CHECK(h["m"] == nlohmann::json::parse(R"({"dtype":"U8","shape":[3],"data_offsets":[12,15]})"));
  // The data, little-endian: 1.0f = 0x3f800000, -2.0f = 0xc0000000, 258 = 0x00000102.
  const std::string data("\x00\x00\x80\x3f\x00\x00\x00\xc0\x02\x01\x00\x00\x07\x08\x09", 15);
  CHECK(bytes.substr(8 + n) == data);
  CHECK(h["__metadata__"]["trim.data_crc32"] == safetensors_checksum_text(safetensors_crc32(0, data.data(), data.size())));
  CHECK(h["__metadata__"]["trim.header_crc32"] ==
        safetensors_checksum_text(safetensors_header_crc32(
            {{"k", "v"}}, {{"b", DType::f32, {2}, 0, 8}, {"a", DType::i32, {1, 1}, 8, 12},
                           {"z", DType::u8, {0, 4}, 12, 12}, {"m", DType::u8, {3}, 12, 15}})));
  // Tensors appear in the header in the order given, after the metadata (as the reference does).
  CHECK(header.find("__metadata__") < header.find("\"b\""));
  CHECK(header.find("\"b\"") < header.find("\"a\""));
  CHECK(header.find("\"z\"") < header.find("\"m\""));
}

TEST_CASE("load_safetensors reads a hand-built file", "[io]") {
  TempDir tmp;
  // Unpadded header, entries not in data order, metadata last: all allowed by the format.
  std::string header = R"({"b":{"dtype":"I32","shape":[2],"data_offsets":[4,12]},)"
                       R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                       R"("c":{"dtype":"U8","shape":[1,1,1,1,3],"data_offsets":[12,15]},)"
                       R"("__metadata__":{"x":"y"}})";
  std::string data("\x00\x00\x80\x3f" "\x01\x00\x00\x00" "\xfe\xff\xff\xff" "\x05\x06\xff", 15);
  std::string path = tmp.file("hand.safetensors");
  write_bytes(path, st_bytes(header, data));

  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[0].name == "a");
  CHECK(f.tensors[1].name == "b");
  CHECK(f.tensors[2].name == "c");
  CHECK(f.tensors[0].tensor.shape() == Shape{});
  CHECK(f.tensors[0].tensor.to_vector<float>() == std::vector<float>{1.0f});
  CHECK(f.tensors[1].tensor.to_vector<int32_t>() == std::vector<int32_t>{1, -2});
  CHECK(f.tensors[2].tensor.shape() == Shape{1, 1, 1, 1, 3});
  CHECK(f.tensors[2].tensor.to_vector<uint8_t>() == std::vector<uint8_t>{5, 6, 255});
  CHECK(f.metadata == std::map<std::string, std::string>{{"x", "y"}});

  // Space padding after the JSON, and a null __metadata__, as other writers produce.
  std::string padded = R"({"__metadata__":null,)" + kEntryW + "}     ";
  write_bytes(path, st_bytes(padded, std::string("\x00\x00\x20\x41", 4)));
  SafetensorsFile g = load_safetensors(path);
  REQUIRE(g.tensors.size() == 1);
  CHECK(g.tensors[0].tensor.to_vector<float>() == std::vector<float>{10.0f});
  CHECK(g.metadata.empty());
}

TEST_CASE("load_safetensors refuses malformed files with one clear message", "[io]") {
  TempDir tmp;
  const std::string four(4, '\0');
  // Every case gets its own file, so a message naming the wrong file would fail too.
  int counter = 0;
  auto file_with = [&](const std::string& bytes) {
    std::string path = tmp.file("bad" + std::to_string(counter++) + ".safetensors");
    write_bytes(path, bytes);
    return path;
  };
  auto header_case = [&](const std::string& header, const std::string& data,
                         std::initializer_list<std::string> parts) {
    INFO("header: " << header);
    expect_refused(file_with(st_bytes(header, data)), parts);
  };

  SECTION("missing file") { expect_refused(tmp.file("absent.safetensors"), {"cannot open", "no such file"}); }
  SECTION("a directory") { expect_refused(tmp.dir.string(), {"expected a regular file"}); }
  SECTION("shorter than 8 bytes") {
    expect_refused(file_with(""), {"0 bytes", "expected at least 8"});
    expect_refused(file_with("abc"), {"3 bytes", "expected at least 8"});
  }
  SECTION("header length larger than the file") {
    expect_refused(file_with(le64(1000) + "{}"), {"header length 1000", "file is 10 bytes", "at most 2"});
    expect_refused(file_with(le64(~uint64_t(0)) + "{}"), {"header length 18446744073709551615", "larger than the file"});
  }
  SECTION("absurd header length is refused before allocating") {
    std::string path = file_with(le64(150'000'000));
    fs::resize_file(path, 200'000'000);  // sparse: costs no disk
    expect_refused(path, {"header length 150000000", "absurd", "at most 100000000"});
  }
  SECTION("header not valid JSON, with the file offset") {
    header_case(R"({"a": })", "", {"not valid JSON", "at byte 14 of the file", "unexpected '}'"});
    header_case("{\"\xff\":1}", "", {"not valid JSON", "UTF-8"});
    header_case(R"({} x)", "", {"not valid JSON", "at byte 11"});
  }
  SECTION("header not an object") { header_case("[1,2]", "", {"must be a JSON object", "found array [1,2]"}); }
  SECTION("entry not an object") { header_case(R"({"w":3})", "", {"header entry \"w\"", "expected an object", "number 3"}); }
  SECTION("missing keys") {
    header_case(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", four, {"tensor \"w\"", "missing key \"dtype\""});
    header_case(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", four, {"tensor \"w\"", "missing key \"shape\""});
    header_case(R"({"w":{"dtype":"F32","shape":[1]}})", four, {"tensor \"w\"", "missing key \"data_offsets\""});
  }
  SECTION("wrong-typed keys") {
    header_case(R"({"w":{"dtype":5,"shape":[1],"data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "\"dtype\" must be a string", "found number 5"});
    header_case(R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "\"shape\" must be an array", "found string"});
    header_case(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "shape[0] must be a non-negative integer", "found number 1.5"});
    header_case(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":{"a":0}}})", four,
                {"tensor \"w\"", "\"data_offsets\" must be an array [begin, end]", "found object"});
    header_case(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", four,
                {"tensor \"w\"", "\"data_offsets\" must be an array [begin, end]", "found array [0,4,8]"});
    header_case(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}})", four,
                {"tensor \"w\"", "data_offsets[0] must be a non-negative integer", "found number -4"});
    header_case(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", four,
                {"tensor \"w\"", "unknown key \"extra\""});
  }
  SECTION("unknown and unsupported dtypes") {
    header_case(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "unknown dtype \"F33\"", "expected one of F32, I32, U8, BF16"});
    for (std::string code : {"F16", "F64", "I64", "BOOL"}) {
      header_case(R"({"w":{"dtype":")" + code + R"(","shape":[1],"data_offsets":[0,4]}})", four,
                  {"tensor \"w\"", "\"" + code + "\"", "not supported by trim", "F32, I32, U8, BF16"});
    }
  }
  SECTION("bad dimensions") {
    header_case(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "shape[0] must be a non-negative integer", "found number -1"});
    header_case(R"({"w":{"dtype":"U8","shape":[1,1,1,1,1,4],"data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "6 dimensions", "at most 5"});
    header_case(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "more than 2^64 bytes"});
  }
  SECTION("end before begin") {
    header_case(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", four,
                {"tensor \"w\"", "[4, 0]", "expected begin <= end"});
  }
  SECTION("data range outside the file (truncated)") {
    header_case(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'),
                {"tensor \"w\"", "expected at least 16 bytes of data", "found 8", "truncated"});
  }
  SECTION("range size does not match the shape") {
    header_case(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'),
                {"tensor \"w\"", "needs 12 bytes", "expected end - begin = 12, found 8"});
    header_case(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[0,4]}})", four,
                {"tensor \"w\"", "needs 0 bytes", "expected end - begin = 0, found 4"});
  }
  SECTION("overlapping ranges") {
    header_case(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                std::string(12, '\0'), {"tensor \"b\"", "overlap tensor \"a\"", "expected it to begin at 8"});
    header_case(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                std::string(8, '\0'), {"tensor \"z\"", "overlap tensor \"a\""});
  }
  SECTION("gap between ranges") {
    header_case(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                std::string(12, '\0'), {"belong to no tensor", "tensor \"b\"", "to begin at 4, found 8"});
    header_case(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'),
                {"belong to no tensor", "tensor \"b\"", "to begin at 0, found 4"});
  }
  SECTION("trailing bytes after the last tensor") {
    std::string header = "{" + kEntryW + "}";
    header_case(header, std::string(7, '\0'),
                {"3 trailing bytes", "from byte " + std::to_string(8 + header.size() + 4),
                 "expected the file to be " + std::to_string(8 + header.size() + 4) + " bytes long, found " +
                     std::to_string(8 + header.size() + 7)});
    header_case("{}", "x", {"1 trailing bytes"});
  }
  SECTION("metadata values that are not strings") {
    header_case(R"({"__metadata__":{"k":1}})", "", {"\"__metadata__\"", "\"k\" must be a string", "found number 1"});
    header_case(R"({"__metadata__":["k"]})", "", {"\"__metadata__\"", "expected an object", "found array"});
  }
  SECTION("duplicate names and keys") {
    header_case("{" + kEntryW + "," + kEntryW + "}", four, {"\"w\" twice", "expected each tensor name once"});
    header_case(R"({"w":{"dtype":"F32","dtype":"U8","shape":[1],"data_offsets":[0,4]}})", four,
                {"entry \"w\"", "\"dtype\" twice"});
    header_case(R"({"__metadata__":{"k":"a","k":"b"}})", "", {"entry \"__metadata__\"", "\"k\" twice"});
  }
}

TEST_CASE("truncated or corrupted safetensors files are refused, never crash", "[io]") {
  TempDir tmp;
  std::string good = tmp.file("good.safetensors");
  save_safetensors(good, sample_tensors(), {{"step", "7"}});
  const std::string bytes = read_file(good);
  std::string path = tmp.file("cut.safetensors");
  std::vector<size_t> cuts;
  for (size_t cut = 0; cut < bytes.size(); cut += 7) cuts.push_back(cut);
  cuts.push_back(bytes.size() - 1);
  for (size_t cut : cuts) {
    INFO("cut at byte " << cut);
    write_bytes(path, bytes.substr(0, cut));
    expect_refused(path, {});
  }

  // Changing any header byte may give another valid file, but only ever a trim::Error otherwise.
  uint64_t n = read_le64(bytes);
  int refused = 0;
  for (size_t i = 0; i < 8 + n; ++i) {
    for (char c : {'"', '9', '-', '{', '\xff'}) {
      std::string bad = bytes;
      if (bad[i] == c) continue;
      bad[i] = c;
      write_bytes(path, bad);
      INFO("byte " << i << " set to " << int(c));
      try {
        load_safetensors(path);
      } catch (const Error& e) {
        ++refused;
        CHECK(std::string(e.what()).rfind(path, 0) == 0);
      }
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("save_safetensors refuses bad names before writing anything", "[io]") {
  TempDir tmp;
  std::string path = tmp.file("out.safetensors");
  auto t = Tensor::zeros(Shape{2});
  auto refused = [&](const std::vector<NamedTensor>& tensors, const std::string& part) {
    std::string msg;
    try {
      save_safetensors(path, tensors);
    } catch (const Error& e) {
      msg = e.what();
    }
    INFO("message: " << msg);
    CHECK(msg.rfind(path + ": ", 0) == 0);
    CHECK_THAT(msg, Catch::Contains(part));
  };
  refused({{"", t}}, "name is empty");
  refused({{"__metadata__", t}}, "reserved");
  refused({{"a", t}, {"b", t}, {"a", t}}, "\"a\" is used twice");
  refused({{"u", Tensor()}}, "\"u\": it is undefined");
  refused({{"bad\xff", t}}, "not valid UTF-8");
  CHECK(tmp.listing().empty());
}

TEST_CASE("write_file_atomic replaces whole files and leaves no temporaries", "[io]") {
  TempDir tmp;
  std::string path = tmp.file("out.txt");

  write_file_atomic(path, "old content");
  write_file_atomic(path, "new");
  CHECK(read_file(path) == "new");
  CHECK(tmp.listing() == std::vector<std::string>{"out.txt"});

  // A failing writer leaves the old file as it was and removes its partial temporary.
  CHECK_THROWS_WITH(write_file_atomic(path,
                                      [](std::FILE* f) {
                                        std::fputs("partial", f);
                                        throw std::runtime_error("writer failed");
                                      }),
                    "writer failed");
  CHECK(read_file(path) == "new");
  CHECK(tmp.listing() == std::vector<std::string>{"out.txt"});

  // Missing parent directories are created; empty and binary content round trip.
  std::string nested = tmp.file("a/b/c/out.bin");
  std::string binary("\x00\x01\xff\n\r", 5);
  write_file_atomic(nested, binary);
  CHECK(read_file(nested) == binary);
  write_file_atomic(nested, "");
  CHECK(read_file(nested).empty());

  // Larger than one read buffer, through the FILE* interface.
  std::string big(300'000, 'x');
  for (size_t i = 0; i < big.size(); i += 1000) big[i] = char('a' + i % 26);
  write_file_atomic(tmp.file("big"), [&](std::FILE* f) { std::fwrite(big.data(), 1, big.size(), f); });
  CHECK(read_file(tmp.file("big")) == big);
}

TEST_CASE("write_file_atomic and read_file name the path and the system error", "[io]") {
  TempDir tmp;
  write_file_atomic(tmp.file("plain"), "x");
  // A regular file where a directory is needed.
  std::string under_file = tmp.file("plain/sub/out.txt");
  CHECK_THROWS_WITH(write_file_atomic(under_file, "y"), Catch::Contains(under_file) && Catch::Contains("directory"));
  // The target is a non-empty directory: the rename fails and the temporary is removed.
  std::string dir_target = tmp.file("d");
  write_file_atomic(tmp.file("d/inner"), "z");
  CHECK_THROWS_WITH(write_file_atomic(dir_target, "y"),
                    Catch::Contains(dir_target) && Catch::Contains("rename") && Catch::Contains("directory"));
  CHECK(tmp.listing() == std::vector<std::string>{"d", "inner", "plain"});

  std::string missing = tmp.file("missing.txt");
  CHECK_THROWS_WITH(read_file(missing), Catch::Contains(missing) && Catch::Contains("No such file or directory"));
  CHECK_THROWS_WITH(read_file(tmp.dir.string()), Catch::Contains(tmp.dir.string()) && Catch::Contains("directory"));
  CHECK_THROWS_WITH(write_file_atomic("", "x"), Catch::Contains("empty"));
}
