#include "core/io/safetensors.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/regular_file.h"
#include "core/io/safetensors_format.h"

namespace trim {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kMetadataKey = "__metadata__";

[[noreturn]] void refuse(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

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
      refuse(path, cat("cannot save tensor #", i, ": the name ", in_quotes(t.name), " is used twice"));
    if (!t.tensor.defined()) refuse(path, cat("cannot save tensor ", in_quotes(t.name), ": it is undefined"));
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
  for (const char* key : {kSafetensorsChecksumKey, kSafetensorsHeaderChecksumKey})
    if (metadata.count(key)) refuse(path, cat("cannot save: the metadata key ", in_quotes(key), " is reserved for a checksum"));
  // Metadata first, then the tensors in order: the reference implementation's layout. The checksum
  // goes last in the metadata, as a placeholder filled in once the data has been written.
  const std::string placeholder = safetensors_checksum_text(0);
  Json header = Json::object();
  Json m = Json::object();
  for (const auto& [k, v] : metadata) m[k] = v;
  std::vector<SafetensorsEntry> entries;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    uint64_t end = offset + t.tensor.nbytes();
    entries.push_back({t.name, t.tensor.dtype(), t.tensor.shape().vec(), offset, end});
    offset = end;
  }
  m[kSafetensorsHeaderChecksumKey] = safetensors_checksum_text(safetensors_header_crc32(metadata, entries));
  m[kSafetensorsChecksumKey] = placeholder;
  header[kMetadataKey] = std::move(m);
  for (const SafetensorsEntry& e : entries)
    header[e.name] = Json{{"dtype", safetensors_dtype_code(e.dtype)},
                          {"shape", e.shape},
                          {"data_offsets", Json::array({e.begin, e.end})}};
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::type_error& e) {
    refuse(path, cat("cannot save: a tensor name or metadata string is not valid UTF-8 (", e.what(), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  // The last occurrence: quotes inside metadata values are escaped, so only the real key matches.
  const size_t at = text.rfind(cat(in_quotes(kSafetensorsChecksumKey), ":", in_quotes(placeholder)));
  TRIM_CHECK(at != std::string::npos, "the checksum placeholder is missing from the header");
  const long checksum_pos = long(8 + at + std::strlen(kSafetensorsChecksumKey) + 4);

  write_file_atomic(path, [&](std::FILE* f) {
    std::string len = le_u64(text.size());
    put(f, len.data(), len.size(), path);
    put(f, text.data(), text.size(), path);
    uint32_t crc = 0;
    for (const NamedTensor& t : tensors) {
      // One tensor on the host at a time keeps the extra memory to the largest tensor.
      Tensor host = t.tensor.to(Device::cpu());
      crc = safetensors_crc32(crc, host.raw_data(), host.nbytes());
      put(f, host.raw_data(), host.nbytes(), path);
    }
    const std::string sum = safetensors_checksum_text(crc);
    if (std::fseek(f, checksum_pos, SEEK_SET) != 0)
      refuse(path, cat("cannot seek back to write the checksum: ", std::strerror(errno)));
    put(f, sum.data(), sum.size(), path);
  });
}

SafetensorsFile load_safetensors(const std::string& path) {
  // Only a regular file: a FIFO would block, a device could be endless.
  int fd = open_regular_file(path, "safetensors file");
  File f(::fdopen(fd, "rb"));
  if (!f) {
    int err = errno;
    ::close(fd);
    refuse(path, cat("cannot open for reading: ", std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(::fileno(f.get()), &st) != 0) refuse(path, cat("cannot stat: ", std::strerror(errno)));
  const uint64_t file_size = uint64_t(st.st_size);

  if (file_size < 8)
    refuse(path, cat("the file is ", file_size, " bytes long; expected at least 8 bytes (the header length)"));
  unsigned char len_bytes[8];
  read_exact(f.get(), len_bytes, 8, 0, path, "the header length");
  const uint64_t header_len = parse_safetensors_length(path, len_bytes, file_size);
  std::string text(header_len, '\0');
  read_exact(f.get(), text.data(), text.size(), 8, path, "the header");
  SafetensorsIndex index = parse_safetensors_header(path, text, file_size);

  SafetensorsFile out;
  out.metadata = std::move(index.metadata);
  out.has_checksum = index.checksum.has_value();
  out.has_header_checksum = index.header_checksum.has_value();
  // The layout check proved the tensors are contiguous in this order, so one sequential pass reads
  // them straight into their storage.
  uint32_t crc = 0;
  for (const SafetensorsEntry& e : index.entries) {
    Tensor t = Tensor::empty(Shape(e.shape), e.dtype, Device::cpu());
    read_exact(f.get(), t.raw_data(), t.nbytes(), index.data_start + e.begin, path, cat("tensor ", in_quotes(e.name)));
    crc = safetensors_crc32(crc, t.raw_data(), t.nbytes());
    out.tensors.push_back({e.name, std::move(t)});
  }
  check_safetensors_checksum(path, index, crc);
  return out;
}

}  // namespace trim
