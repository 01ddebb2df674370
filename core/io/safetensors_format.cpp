#include "core/io/safetensors_format.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/shape.h"

namespace trim {

const char* safetensors_dtype_code(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::i32: return "I32";
    case DType::u8: return "U8";
    case DType::bf16: return "BF16";
  }
  return "?";
}

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
constexpr DTypeCode kSupportedDTypes[] = {
    {"F32", DType::f32}, {"I32", DType::i32}, {"U8", DType::u8}, {"BF16", DType::bf16}};
constexpr const char* kSupportedList = "F32, I32, U8, BF16";
// Valid safetensors dtypes that trim has no tensor type for; named so the message can say the file
// is fine but trim cannot hold it.
constexpr const char* kUnsupportedDTypes[] = {"BOOL", "F4", "F6_E2M3", "F6_E3M2", "F8_E4M3", "F8_E5M2",
                                              "F8_E8M0", "F16", "F64", "I8", "I16", "I64",
                                              "U16", "U32", "U64", "C64"};


[[noreturn]] void refuse(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

// "number 1.5", "array [1,2]": the JSON type and a short excerpt of the value that was found.
std::string describe(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return cat(j.type_name(), " ", text);
}

// ---------------------------------------------------------------------------------------------
// Reading

using Entry = SafetensorsEntry;

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
          refuse(path, cat("the header names ", in_quotes(key), " twice; expected each tensor name once"));
        refuse(path, cat("header entry ", in_quotes(entry), " has the key ", in_quotes(key),
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
  } catch (const Json::exception& e) {
    // out_of_range 406: a number beyond the double range (found by fuzzing); the entry it sits in
    // is the one being parsed.
    std::string why = e.what();
    auto cut = why.find("] ");
    if (cut != std::string::npos) why = why.substr(cut + 2);
    refuse(path, cat("the header (bytes [8, ", 8 + text.size(), ")) is not valid", entry.empty() ? "" : " in entry ",
                     entry.empty() ? "" : in_quotes(entry), ": ", why, "; expected finite numbers"));
  }
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const Json& j) {
  std::map<std::string, std::string> out;
  if (j.is_null()) return out;  // the reference implementation accepts null as "no metadata"
  if (!j.is_object())
    refuse(path, cat("header key \"__metadata__\": expected an object of string values, found ", describe(j)));
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string())
      refuse(path, cat("header key \"__metadata__\": the value of ", in_quotes(key), " must be a string, found ",
                       describe(value)));
    out[key] = value.get<std::string>();
  }
  return out;
}

const Json& require_key(const std::string& path, const std::string& name, const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) refuse(path, cat("tensor ", in_quotes(name), ": missing key ", in_quotes(key)));
  return *it;
}

DType parse_dtype(const std::string& path, const std::string& name, const Json& j) {
  if (!j.is_string())
    refuse(path, cat("tensor ", in_quotes(name), ": key \"dtype\" must be a string, found ", describe(j)));
  const std::string& code = j.get_ref<const std::string&>();
  for (const auto& d : kSupportedDTypes)
    if (code == d.code) return d.dtype;
  for (const char* u : kUnsupportedDTypes)
    if (code == u)
      refuse(path, cat("tensor ", in_quotes(name), ": dtype ", in_quotes(code),
                       " is a safetensors dtype not supported by trim; expected one of ", kSupportedList));
  refuse(path, cat("tensor ", in_quotes(name), ": unknown dtype ", in_quotes(code), "; expected one of ", kSupportedList));
}

// A JSON integer in [0, 2^64); nlohmann stores non-negative integers as unsigned and larger ones as
// floating point, so everything else is refused here with what it was.
uint64_t parse_count(const std::string& path, const std::string& name, const char* key, size_t index,
                     const Json& j) {
  if (!j.is_number_unsigned())
    refuse(path, cat("tensor ", in_quotes(name), ": ", key, "[", index, "] must be a non-negative integer, found ",
                     describe(j)));
  return j.get<uint64_t>();
}

std::vector<int64_t> parse_shape(const std::string& path, const std::string& name, const Json& j) {
  if (!j.is_array())
    refuse(path, cat("tensor ", in_quotes(name), ": key \"shape\" must be an array of dimensions, found ", describe(j)));
  if (j.size() > size_t(Shape::kMaxDims))
    refuse(path, cat("tensor ", in_quotes(name), ": shape has ", j.size(), " dimensions; trim supports at most ",
                     Shape::kMaxDims));
  std::vector<int64_t> dims;
  for (size_t i = 0; i < j.size(); ++i) {
    uint64_t d = parse_count(path, name, "shape", i, j[i]);
    if (d > uint64_t(INT64_MAX))
      refuse(path, cat("tensor ", in_quotes(name), ": shape[", i, "] = ", d, " is too large; expected at most ", INT64_MAX));
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
    refuse(path, cat("tensor ", in_quotes(e.name), ": shape ", shape_text(e.shape), " of ", safetensors_dtype_code(e.dtype),
                     " needs more than 2^64 bytes, but data_offsets [", e.begin, ", ", e.end, "] hold ", have));
  if (need != have)
    refuse(path, cat("tensor ", in_quotes(e.name), ": shape ", shape_text(e.shape), " of ", safetensors_dtype_code(e.dtype),
                     " needs ", need, " bytes (numel x ", dtype_size(e.dtype), "), but data_offsets [", e.begin, ", ",
                     e.end, "] hold ", have, ": expected end - begin = ", need, ", found ", have));
}

Entry parse_entry(const std::string& path, const std::string& name, const Json& j) {
  if (!j.is_object())
    refuse(path, cat("header entry ", in_quotes(name),
                     ": expected an object with dtype, shape and data_offsets, found ", describe(j)));
  for (const auto& [key, value] : j.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      refuse(path, cat("tensor ", in_quotes(name), ": unknown key ", in_quotes(key),
                       "; expected only dtype, shape and data_offsets"));
  Entry e;
  e.name = name;
  e.dtype = parse_dtype(path, name, require_key(path, name, j, "dtype"));
  e.shape = parse_shape(path, name, require_key(path, name, j, "shape"));
  const Json& off = require_key(path, name, j, "data_offsets");
  if (!off.is_array() || off.size() != 2)
    refuse(path, cat("tensor ", in_quotes(name), ": key \"data_offsets\" must be an array [begin, end], found ",
                     describe(off)));
  e.begin = parse_count(path, name, "data_offsets", 0, off[0]);
  e.end = parse_count(path, name, "data_offsets", 1, off[1]);
  if (e.end < e.begin)
    refuse(path, cat("tensor ", in_quotes(name), ": data_offsets [", e.begin, ", ", e.end,
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
    refuse(path, cat("tensor ", in_quotes(last->name), ": data_offsets [", last->begin, ", ", last->end,
                     "] reach past the end of the file: expected at least ", last->end,
                     " bytes of data (from byte ", data_start, "), found ", data_size, " (is the file truncated?)"));
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      refuse(path, cat("tensor ", in_quotes(e.name), ": data_offsets [", e.begin, ", ", e.end, "] overlap tensor ",
                       in_quotes(prev->name), " [", prev->begin, ", ", prev->end, "]; expected it to begin at ", pos));
    if (e.begin > pos)
      refuse(path, cat("data bytes [", pos, ", ", e.begin, ") (file bytes [", data_start + pos, ", ",
                       data_start + e.begin, ")) belong to no tensor: expected tensor ", in_quotes(e.name),
                       " to begin at ", pos, ", found ", e.begin, " (the format allows no gaps)"));
    pos = e.end;
    prev = &e;
  }
  if (pos < data_size)
    refuse(path, cat(data_size - pos, " trailing bytes after the last tensor, from byte ", data_start + pos,
                     ": expected the file to be ", data_start + pos, " bytes long, found ",
                     data_start + data_size));
}


uint32_t parse_checksum(const std::string& path, const std::string& text, const char* key) {
  bool ok = text.size() == 8;
  uint32_t v = 0;
  for (char c : text) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    ok = ok && d >= 0;
    v = v << 4 | uint32_t(d < 0 ? 0 : d);
  }
  if (!ok)
    refuse(path, cat("metadata ", in_quotes(key), " must be 8 lowercase hex digits (a CRC-32), found ",
                     in_quotes(text.substr(0, 40))));
  return v;
}

}  // namespace

std::string safetensors_checksum_text(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", unsigned(crc));
  return buf;
}

uint32_t safetensors_crc32(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {  // zlib takes a uInt count
    uInt chunk = uInt(std::min<size_t>(n, size_t(1) << 30));
    crc = uint32_t(::crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

uint64_t parse_safetensors_length(const std::string& path, const unsigned char bytes[8], uint64_t file_size) {
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > file_size - 8)
    refuse(path, cat("header length ", header_len, " (bytes [0, 8)) is larger than the file: the file is ", file_size,
                     " bytes, so expected a header length of at most ", file_size - 8));
  if (header_len > kMaxHeaderBytes)
    refuse(path, cat("header length ", header_len, " (bytes [0, 8)) is absurd; expected at most ", kMaxHeaderBytes,
                     " bytes"));
  return header_len;
}

SafetensorsIndex parse_safetensors_header(const std::string& path, const std::string& text, uint64_t file_size) {
  Json header = parse_header(path, text);
  if (!header.is_object())
    refuse(path, cat("the header (from byte 8) must be a JSON object, found ", describe(header)));

  SafetensorsIndex out;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      out.metadata = parse_metadata(path, value);
    else
      out.entries.push_back(parse_entry(path, key, value));
  }
  auto sum = out.metadata.find(kSafetensorsChecksumKey);
  if (sum != out.metadata.end()) {
    out.checksum = parse_checksum(path, sum->second, kSafetensorsChecksumKey);
    out.metadata.erase(sum);
  }
  auto header_sum = out.metadata.find(kSafetensorsHeaderChecksumKey);
  if (header_sum != out.metadata.end()) {
    out.header_checksum = parse_checksum(path, header_sum->second, kSafetensorsHeaderChecksumKey);
    out.metadata.erase(header_sum);
  }
  // Stable, so zero-size tensors that share an offset keep their header order.
  std::stable_sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  out.data_start = 8 + text.size();
  out.data_size = file_size - out.data_start;
  check_layout(path, out.entries, out.data_start, out.data_size);
  if (out.header_checksum) {
    const uint32_t computed = safetensors_header_crc32(out.metadata, out.entries);
    if (computed != *out.header_checksum)
      refuse(path, cat("the header (tensor names, dtypes, shapes, offsets and metadata values) does not match its "
                       "checksum: metadata ", in_quotes(kSafetensorsHeaderChecksumKey), " says ",
                       safetensors_checksum_text(*out.header_checksum), ", the header has ",
                       safetensors_checksum_text(computed), " (the file was edited or is corrupt)"));
  }
  return out;
}

uint32_t safetensors_header_crc32(const std::map<std::string, std::string>& metadata,
                                  const std::vector<SafetensorsEntry>& entries) {
  std::string text = "metadata";
  text.push_back('\0');
  auto field = [&](const std::string& s) {
    text += s;
    text.push_back('\0');
  };
  for (const auto& [k, v] : metadata) {
    if (k == kSafetensorsChecksumKey || k == kSafetensorsHeaderChecksumKey) continue;
    field(k);
    field(v);
  }
  field("tensors");
  for (const SafetensorsEntry& e : entries) {
    field(e.name);
    field(safetensors_dtype_code(e.dtype));
    std::string dims;
    for (int64_t d : e.shape) dims += std::to_string(d) + ",";
    field(dims);
    field(std::to_string(e.begin));
    field(std::to_string(e.end));
  }
  return safetensors_crc32(0, text.data(), text.size());
}

void check_safetensors_checksum(const std::string& path, const SafetensorsIndex& index, uint32_t computed) {
  if (!index.checksum || *index.checksum == computed) return;
  refuse(path, cat("the tensor data (bytes [", index.data_start, ", ", index.data_start + index.data_size,
                   ")) does not match its checksum: metadata ", in_quotes(kSafetensorsChecksumKey), " says ",
                   safetensors_checksum_text(*index.checksum), ", the data has ", safetensors_checksum_text(computed),
                   " (the file is corrupt)"));
}

SafetensorsIndex check_safetensors_bytes(const std::string& path, std::string_view file) {
  if (file.size() < 8)
    refuse(path, cat("the file is ", file.size(), " bytes long; expected at least 8 bytes (the header length)"));
  uint64_t header_len = parse_safetensors_length(path, reinterpret_cast<const unsigned char*>(file.data()), file.size());
  SafetensorsIndex index = parse_safetensors_header(path, std::string(file.substr(8, header_len)), file.size());
  uint32_t crc = safetensors_crc32(0, file.data() + index.data_start, index.data_size);
  check_safetensors_checksum(path, index, crc);
  return index;
}

}  // namespace trim
