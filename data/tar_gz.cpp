#include "data/tar_gz.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "data/gz_reader.h"

namespace trim {
namespace {

constexpr size_t kBlock = 512;

// A NUL- or space-terminated octal field; false when it holds anything else.
bool parse_octal(const uint8_t* field, size_t n, uint64_t& out) {
  out = 0;
  size_t i = 0;
  while (i < n && field[i] == ' ') ++i;
  bool any = false;
  for (; i < n && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (out >> 60) return false;
    out = out * 8 + uint64_t(field[i] - '0');
    any = true;
  }
  for (; i < n; ++i)
    if (field[i] != 0 && field[i] != ' ') return false;
  return any;
}

std::string field_string(const uint8_t* field, size_t n) {
  size_t len = 0;
  while (len < n && field[len]) ++len;
  return std::string(reinterpret_cast<const char*>(field), len);
}

}  // namespace

std::map<std::string, std::vector<uint8_t>> read_tar_members(const std::string& path,
                                                             const std::vector<std::string>& wanted) {
  GzReader in(path, "tar archive");
  std::map<std::string, std::vector<uint8_t>> out;
  std::string long_name;  // from a GNU 'L' record, for the member that follows
  uint8_t header[kBlock];
  std::vector<uint8_t> scratch(1 << 16);
  for (;;) {
    const uint64_t at = in.offset();
    size_t got = in.read(header, kBlock);
    if (got == 0) break;  // archives normally end with zero blocks, but a bare end is accepted
    if (got < kBlock) throw Error(cat(path, ": tar header at offset ", at, " is cut short: ", got, " of 512 bytes"));
    if (std::all_of(header, header + kBlock, [](uint8_t b) { return b == 0; })) break;  // end of archive
    uint64_t sum = 0, stored = 0;
    for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? uint64_t(' ') : header[i];
    if (!parse_octal(header + 148, 8, stored) || stored != sum)
      throw Error(cat(path, ": not a tar archive, or corrupt: the header at offset ", at, " has checksum field \"",
                      field_string(header + 148, 8), "\", expected ", sum,
                      in.compressed() ? "" : " (the file is not gzip-compressed either)"));
    uint64_t size = 0;
    if (!parse_octal(header + 124, 12, size) && field_string(header + 124, 12) != "")
      throw Error(
          cat(path, ": tar header at offset ", at, ": invalid size field \"", field_string(header + 124, 12), "\""));
    const char type = char(header[156]);
    std::string name = field_string(header, 100);
    if (std::memcmp(header + 257, "ustar", 5) == 0) {
      std::string prefix = field_string(header + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (!long_name.empty()) name = long_name, long_name.clear();
    const std::string base = name.substr(name.find_last_of('/') == std::string::npos ? 0 : name.find_last_of('/') + 1);
    const bool regular = type == '0' || type == '\0' || type == '7';
    const bool keep = type == 'L' || (regular && std::find(wanted.begin(), wanted.end(), base) != wanted.end());
    const uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    std::vector<uint8_t> data;
    uint64_t done = 0;
    while (done < padded) {
      size_t want = size_t(std::min<uint64_t>(padded - done, scratch.size()));
      size_t n = in.read(scratch.data(), want);
      if (keep) {
        uint64_t useful = done < size ? std::min<uint64_t>(size - done, n) : 0;
        data.insert(data.end(), scratch.begin(), scratch.begin() + ptrdiff_t(useful));
      }
      done += n;
      if (n < want)
        throw Error(cat(path, ": tar member \"", name, "\" (header at offset ", at, ") is cut short: expected ", size,
                        " bytes of data, found ", std::min(done, size)));
    }
    if (type == 'L') {
      long_name = std::string(data.begin(), data.end());
      long_name = long_name.substr(0, long_name.find('\0'));
    } else if (keep) {
      out[base] = std::move(data);
    }
  }
  return out;
}

}  // namespace trim
