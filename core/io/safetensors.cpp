#include "core/io/safetensors.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace trim {
namespace {

// The format stores little-endian data and trim copies it byte for byte into tensors.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O copies raw bytes and assumes a little-endian host");

// ordered_json keeps the header's key order, so tensors written in a given order (zero-size ones
// share offsets with their neighbours) come back in that order.
using Json = nlohmann::ordered_json;

constexpr const char* kMetadataKey = "__metadata__";
// A real header is a few hundred bytes per tensor; this bound stops a corrupt length from making
// us allocate gigabytes before the JSON parser could refuse it.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A safetensors header nests 3 levels deep; the bound only keeps hostile input from building
// millions of nested values.
constexpr int kMaxJsonDepth = 32;

struct DTypeCode {
  const char* code;
  DType dtype;
};
constexpr DTypeCode kSupportedDTypes[] = {{"F32", DType::f32}, {"I32", DType::i32}, {"U8", DType::u8}};
constexpr const char* kSupportedList = "F32, I32, U8";
// Valid safetensors dtypes that trim has no tensor type for; named so the message can say the file
// is fine but trim cannot hold it.
constexpr const char* kUnsupportedDTypes[] = {"BOOL", "F4", "F6_E2M3", "F6_E3M2", "F8_E4M3", "F8_E5M2",
                                              "F8_E8M0", "F16", "BF16", "F64", "I8", "I16", "I64",
                                              "U16", "U32", "U64", "C64"};

const char* dtype_code(DType t) {
  for (const auto& d : kSupportedDTypes)
    if (d.dtype == t) return d.code;
  TRIM_CHECK(false, cat("no safetensors code for dtype ", dtype_name(t)));
}

[[noreturn]] void refuse(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// "number 1.5", "array [1,2]": the JSON type and a short excerpt of the value that was found.
std::string describe(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return cat(j.type_name(), " ", text);
}

// ---------------------------------------------------------------------------------------------
// Reading

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Reads exactly n bytes that start at file byte `offset`; `what` names them for the message.
void read_exact(std::FILE* f, void* dst, size_t n, uint64_t offset, const std::string& path,
                const std::string& what) {
  if (n == 0) return;
  size_t got = std::fread(dst, 1, n, f);
  if (got == n) return;
  if (std::ferror(f)) refuse(path, cat("cannot read ", what, " at byte ", offset, ": ", std::strerror(errno)));
  refuse(path, cat("the file ended at byte ", offset + got, " while reading ", what, ": expected ", n,
                   " bytes from byte ", offset, " (did the file change while it was read?)"));
}

// Parses the header, refusing duplicate keys: nlohmann keeps one of them silently, which would
// hide a corrupt or ambiguous file.
Json parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> open_objects;  // keys seen so far in each enclosing object
  std::string entry;                                // the top-level key being parsed
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, Json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= kMaxJsonDepth)
      refuse(path, cat("the header nests deeper than ", kMaxJsonDepth,
                       " levels; expected a safetensors header (3 levels)"));
    if (event == E::object_start) open_objects.emplace_back();
    if (event == E::object_end) open_objects.pop_back();
    if (event == E::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (open_objects.size() == 1) entry = key;
      if (!open_objects.back().insert(key).second) {
        if (open_objects.size() == 1)
          refuse(path, cat("the header names ", quoted(key), " twice; expected each tensor name once"));
        refuse(path, cat("header entry ", quoted(entry), " has the key ", quoted(key),
                         " twice; expected each key once"));
      }
    }
    return true;
  };
  try {
    return Json::parse(text, on_event);
  } catch (const Json::parse_error& e) {
    // nlohmann counts bytes from 1 within the header; report the offset in the file.
    std::string why = e.what();
    auto cut = why.find("] ");
    if (cut != std::string::npos) why = why.substr(cut + 2);
    refuse(path, cat("the header (bytes [8, ", 8 + text.size(), ")) is not valid JSON: at byte ",
                     8 + (e.byte > 0 ? e.byte - 1 : 0), " of the file: ", why));
  }
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const Json& j) {
  std::map<std::string, std::string> out;
  if (j.is_null()) return out;  // the reference implementation accepts null as "no metadata"
  if (!j.is_object())
    refuse(path, cat("header key \"__metadata__\": expected an object of string values, found ", describe(j)));
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string())
      refuse(path, cat("header key \"__metadata__\": the value of ", quoted(key), " must be a string, found ",
                       describe(value)));
    out[key] = value.get<std::string>();
  }
  return out;
}

const Json& require_key(const std::string& path, const std::string& name, const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) refuse(path, cat("tensor ", quoted(name), ": missing key ", quoted(key)));
  return *it;
}

DType parse_dtype(const std::string& path, const std::string& name, const Json& j) {
  if (!j.is_string())
    refuse(path, cat("tensor ", quoted(name), ": key \"dtype\" must be a string, found ", describe(j)));
  const std::string& code = j.get_ref<const std::string&>();
  for (const auto& d : kSupportedDTypes)
    if (code == d.code) return d.dtype;
  for (const char* u : kUnsupportedDTypes)
    if (code == u)
      refuse(path, cat("tensor ", quoted(name), ": dtype ", quoted(code),
                       " is a safetensors dtype not supported by trim; expected one of ", kSupportedList));
  refuse(path, cat("tensor ", quoted(name), ": unknown dtype ", quoted(code), "; expected one of ", kSupportedList));
}

// A JSON integer in [0, 2^64); nlohmann stores non-negative integers as unsigned and larger ones as
// floating point, so everything else is refused here with what it was.
uint64_t parse_count(const std::string& path, const std::string& name, const char* key, size_t index,
                     const Json& j) {
  if (!j.is_number_unsigned())
    refuse(path, cat("tensor ", quoted(name), ": ", key, "[", index, "] must be a non-negative integer, found ",
                     describe(j)));
  return j.get<uint64_t>();
}

std::vector<int64_t> parse_shape(const std::string& path, const std::string& name, const Json& j) {
  if (!j.is_array())
    refuse(path, cat("tensor ", quoted(name), ": key \"shape\" must be an array of dimensions, found ", describe(j)));
  if (j.size() > size_t(Shape::kMaxDims))
    refuse(path, cat("tensor ", quoted(name), ": shape has ", j.size(), " dimensions; trim supports at most ",
                     Shape::kMaxDims));
  std::vector<int64_t> dims;
  for (size_t i = 0; i < j.size(); ++i) {
    uint64_t d = parse_count(path, name, "shape", i, j[i]);
    if (d > uint64_t(INT64_MAX))
      refuse(path, cat("tensor ", quoted(name), ": shape[", i, "] = ", d, " is too large; expected at most ", INT64_MAX));
    dims.push_back(int64_t(d));
  }
  return dims;
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Checks that the byte range holds exactly numel x element size bytes, without overflowing.
void check_size(const std::string& path, const Entry& e) {
  uint64_t have = e.end - e.begin;
  uint64_t need = dtype_size(e.dtype);
  bool overflow = false;
  if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) {
    need = 0;
  } else {
    for (int64_t d : e.shape) overflow = overflow || __builtin_mul_overflow(need, uint64_t(d), &need);
  }
  if (overflow)
    refuse(path, cat("tensor ", quoted(e.name), ": shape ", shape_text(e.shape), " of ", dtype_code(e.dtype),
                     " needs more than 2^64 bytes, but data_offsets [", e.begin, ", ", e.end, "] hold ", have));
  if (need != have)
    refuse(path, cat("tensor ", quoted(e.name), ": shape ", shape_text(e.shape), " of ", dtype_code(e.dtype),
                     " needs ", need, " bytes (numel x ", dtype_size(e.dtype), "), but data_offsets [", e.begin, ", ",
                     e.end, "] hold ", have, ": expected end - begin = ", need, ", found ", have));
}

Entry parse_entry(const std::string& path, const std::string& name, const Json& j) {
  if (!j.is_object())
    refuse(path, cat("header entry ", quoted(name),
                     ": expected an object with dtype, shape and data_offsets, found ", describe(j)));
  for (const auto& [key, value] : j.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      refuse(path, cat("tensor ", quoted(name), ": unknown key ", quoted(key),
                       "; expected only dtype, shape and data_offsets"));
  Entry e;
  e.name = name;
  e.dtype = parse_dtype(path, name, require_key(path, name, j, "dtype"));
  e.shape = parse_shape(path, name, require_key(path, name, j, "shape"));
  const Json& off = require_key(path, name, j, "data_offsets");
  if (!off.is_array() || off.size() != 2)
    refuse(path, cat("tensor ", quoted(name), ": key \"data_offsets\" must be an array [begin, end], found ",
                     describe(off)));
  e.begin = parse_count(path, name, "data_offsets", 0, off[0]);
  e.end = parse_count(path, name, "data_offsets", 1, off[1]);
  if (e.end < e.begin)
    refuse(path, cat("tensor ", quoted(name), ": data_offsets [", e.begin, ", ", e.end,
                     "] end before they begin; expected begin <= end"));
  check_size(path, e);
  return e;
}

// The format requires the tensors to tile the data section exactly: no byte outside it, no byte
// claimed twice, no byte unclaimed. `entries` are sorted by (begin, end).
void check_layout(const std::string& path, const std::vector<Entry>& entries, uint64_t data_start,
                  uint64_t data_size) {
  auto last = std::max_element(entries.begin(), entries.end(),
                               [](const Entry& a, const Entry& b) { return a.end < b.end; });
  if (last != entries.end() && last->end > data_size)
    refuse(path, cat("tensor ", quoted(last->name), ": data_offsets [", last->begin, ", ", last->end,
                     "] reach past the end of the file: expected at least ", last->end,
                     " bytes of data (from byte ", data_start, "), found ", data_size, " (is the file truncated?)"));
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      refuse(path, cat("tensor ", quoted(e.name), ": data_offsets [", e.begin, ", ", e.end, "] overlap tensor ",
                       quoted(prev->name), " [", prev->begin, ", ", prev->end, "]; expected it to begin at ", pos));
    if (e.begin > pos)
      refuse(path, cat("data bytes [", pos, ", ", e.begin, ") (file bytes [", data_start + pos, ", ",
                       data_start + e.begin, ")) belong to no tensor: expected tensor ", quoted(e.name),
                       " to begin at ", pos, ", found ", e.begin, " (the format allows no gaps)"));
    pos = e.end;
    prev = &e;
  }
  if (pos < data_size)
    refuse(path, cat(data_size - pos, " trailing bytes after the last tensor, from byte ", data_start + pos,
                     ": expected the file to be ", data_start + pos, " bytes long, found ",
                     data_start + data_size));
}

// ---------------------------------------------------------------------------------------------
// Writing

void put(std::FILE* f, const void* p, size_t n, const std::string& path) {
  if (n != 0 && std::fwrite(p, 1, n, f) != n) refuse(path, cat("cannot write ", n, " bytes: ", std::strerror(errno)));
}

std::string le_u64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s;
}

void check_names(const std::string& path, const std::vector<NamedTensor>& tensors) {
  std::set<std::string> seen;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const NamedTensor& t = tensors[i];
    if (t.name.empty()) refuse(path, cat("cannot save tensor #", i, ": its name is empty"));
    if (t.name == kMetadataKey)
      refuse(path, cat("cannot save tensor #", i, ": the name \"__metadata__\" is reserved for the metadata"));
    if (!seen.insert(t.name).second)
      refuse(path, cat("cannot save tensor #", i, ": the name ", quoted(t.name), " is used twice"));
    if (!t.tensor.defined()) refuse(path, cat("cannot save tensor ", quoted(t.name), ": it is undefined"));
  }
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const NamedTensor& t : tensors)
    if (t.name == name) return &t.tensor;
  return nullptr;
}

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_names(path, tensors);
  // Metadata first, then the tensors in order: the reference implementation's layout.
  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header[kMetadataKey] = std::move(m);
  }
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    uint64_t end = offset + t.tensor.nbytes();
    header[t.name] = Json{{"dtype", dtype_code(t.tensor.dtype())},
                          {"shape", t.tensor.shape().vec()},
                          {"data_offsets", Json::array({offset, end})}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::type_error& e) {
    refuse(path, cat("cannot save: a tensor name or metadata string is not valid UTF-8 (", e.what(), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned

  write_file_atomic(path, [&](std::FILE* f) {
    std::string len = le_u64(text.size());
    put(f, len.data(), len.size(), path);
    put(f, text.data(), text.size(), path);
    for (const NamedTensor& t : tensors) {
      // One tensor on the host at a time keeps the extra memory to the largest tensor.
      Tensor host = t.tensor.to(Device::cpu());
      put(f, host.raw_data(), host.nbytes(), path);
    }
  });
}

SafetensorsFile load_safetensors(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) refuse(path, cat("cannot open for reading: ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(::fileno(f.get()), &st) != 0) refuse(path, cat("cannot stat: ", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) refuse(path, "expected a regular file, found a directory or device");
  const uint64_t file_size = uint64_t(st.st_size);

  if (file_size < 8)
    refuse(path, cat("the file is ", file_size, " bytes long; expected at least 8 bytes (the header length)"));
  unsigned char len_bytes[8];
  read_exact(f.get(), len_bytes, 8, 0, path, "the header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > file_size - 8)
    refuse(path, cat("header length ", header_len, " (bytes [0, 8)) is larger than the file: the file is ", file_size,
                     " bytes, so expected a header length of at most ", file_size - 8));
  if (header_len > kMaxHeaderBytes)
    refuse(path, cat("header length ", header_len, " (bytes [0, 8)) is absurd; expected at most ", kMaxHeaderBytes,
                     " bytes"));
  std::string text(header_len, '\0');
  read_exact(f.get(), text.data(), text.size(), 8, path, "the header");

  Json header = parse_header(path, text);
  if (!header.is_object())
    refuse(path, cat("the header (from byte 8) must be a JSON object, found ", describe(header)));

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      out.metadata = parse_metadata(path, value);
    else
      entries.push_back(parse_entry(path, key, value));
  }
  // Stable, so zero-size tensors that share an offset keep their header order.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t data_start = 8 + header_len;
  check_layout(path, entries, data_start, file_size - data_start);

  // The layout check proved the tensors are contiguous in this order, so one sequential pass reads
  // them straight into their storage.
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(Shape(e.shape), e.dtype, Device::cpu());
    read_exact(f.get(), t.raw_data(), t.nbytes(), data_start + e.begin, path, cat("tensor ", quoted(e.name)));
    out.tensors.push_back({e.name, std::move(t)});
  }
  return out;
}

}  // namespace trim
