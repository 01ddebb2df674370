#include "data/idx.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/error.h"
#include "data/gz_reader.h"

namespace trim {
namespace {

constexpr uint8_t kTypeU8 = 0x08;

std::string hex32(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << std::uppercase << std::setw(8) << std::setfill('0') << v;
  return os.str();
}

std::string hex8(uint8_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << std::uppercase << std::setw(2) << std::setfill('0') << unsigned(v);
  return os.str();
}

// Names of the IDX data types, so a refusal says what the file holds.
const char* type_name(uint8_t t) {
  switch (t) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return "unknown type";
  }
}

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string dimensions(int n) { return std::to_string(n) + (n == 1 ? " dimension" : " dimensions"); }

uint32_t big_endian32(const uint8_t* b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_ndim) {
  GzReader in(path, "IDX file");

  uint8_t magic[4];
  size_t got = in.read(magic, 4);
  if (got == 0) throw Error(cat(path, ": the file is empty; expected an IDX file (4-byte magic, then dimensions)"));
  if (got < 4) throw Error(cat(path, ": the file holds only ", got, " bytes; an IDX file starts with a 4-byte magic"));
  uint32_t found = big_endian32(magic);
  std::string wanted = expected_ndim >= 0 ? hex32(uint32_t(kTypeU8) << 8 | uint32_t(expected_ndim)) : "0x000008NN";
  if (magic[0] != 0 || magic[1] != 0)
    throw Error(cat(path, ": not an IDX file: magic at offset 0 is ", hex32(found), ", expected ", wanted,
                    " (two zero bytes, data type 0x08 = u8, number of dimensions)",
                    in.compressed() ? "" : "; the file is not gzip-compressed either"));
  if (magic[2] != kTypeU8)
    throw Error(cat(path, ": IDX data type at offset 2 is ", hex8(magic[2]), " (", type_name(magic[2]),
                    "), expected 0x08 (u8); magic ", hex32(found), ", expected ", wanted));
  int ndim = magic[3];
  if (expected_ndim >= 0 && ndim != expected_ndim)
    throw Error(cat(path, ": wrong IDX magic at offset 0: expected ", wanted, " (u8, ", dimensions(expected_ndim),
                    "), found ", hex32(found), " (u8, ", dimensions(ndim), ")"));

  std::vector<uint8_t> header(size_t(ndim) * 4);
  got = in.read(header.data(), header.size());
  if (got < header.size())
    throw Error(cat(path, ": truncated IDX header: ", dimensions(ndim), " need ", header.size(),
                    " bytes at offset 4, found ", got));
  IdxArray out;
  uint64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    uint32_t n = big_endian32(&header[size_t(d) * 4]);
    out.dims.push_back(int64_t(n));
    // Caps the product well below overflow; no real IDX file comes near 2^48 bytes.
    if (n != 0 && total > (uint64_t(1) << 48) / n)
      throw Error(cat(path, ": IDX dimensions at offset 4 are absurdly large (dimension ", d, " is ", n, ")"));
    total *= n;
  }

  // The data is read in chunks, so a corrupt header that promises terabytes fails on the short read
  // instead of on one huge allocation.
  const uint64_t start = 4 + header.size();
  const uint64_t kChunk = uint64_t(64) << 20;
  uint64_t have = 0;
  while (have < total) {
    uint64_t want = std::min(total - have, kChunk);
    out.data.resize(size_t(have + want));
    have += in.read(out.data.data() + have, size_t(want));
    if (out.data.size() != have)
      throw Error(cat(path, ": data size does not match the dimensions ", dims_str(out.dims), ": expected ", total,
                      " bytes of data from offset ", start, ", found ", have, " (the data ends at offset ",
                      start + have, ")"));
  }
  uint8_t probe[4096];
  uint64_t extra = 0;
  while ((got = in.read(probe, sizeof probe)) > 0) extra += got;
  if (extra > 0)
    throw Error(cat(path, ": data size does not match the dimensions ", dims_str(out.dims), ": expected ", total,
                    " bytes of data from offset ", start, ", found ", total + extra, " (", extra,
                    extra == 1 ? " extra byte" : " extra bytes", " from offset ", start + total, ")"));
  return out;
}

}  // namespace trim
