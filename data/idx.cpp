#include "data/idx.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/error.h"
#include "core/io/regular_file.h"

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

// A gzip or plain file read through zlib, which passes non-gzip files through unchanged. Counts the
// uncompressed bytes read, so that errors can name offsets.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    // Only a regular file: a FIFO would block, a symlink loop or an over-long name has no content.
    int fd = open_regular_file(path, "IDX file");
    errno = 0;
    file_ = gzdopen(fd, "rb");
    if (!file_) {
      int err = errno;
      ::close(fd);
      throw Error(cat("cannot open IDX file ", path, ": ", err ? std::strerror(err) : "out of memory"));
    }
    gzbuffer(file_, 1 << 20);  // fewer read() calls on 30 MB files
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns fewer only at the end of the data. Throws on a corrupt or
  // truncated gzip stream and on read errors.
  size_t read(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      auto chunk = unsigned(std::min<size_t>(n - done, size_t(1) << 30));  // gzread takes an unsigned count
      int got = gzread(file_, dst + done, chunk);
      if (got < 0) fail();
      done += size_t(got);
      offset_ += uint64_t(got);
      if (unsigned(got) < chunk) {
        // A short read is the end of the data, unless zlib recorded why it stopped early.
        int err = Z_OK;
        gzerror(file_, &err);
        if (err != Z_OK) fail();
        break;
      }
    }
    return done;
  }

  // Whether the file is gzip-compressed (valid after the first read).
  bool compressed() { return gzdirect(file_) == 0; }

 private:
  [[noreturn]] void fail() {
    int err = Z_OK;
    const char* msg = gzerror(file_, &err);
    if (err == Z_BUF_ERROR)
      throw Error(cat(path_, ": the gzip stream ends early, after ", offset_,
                      " uncompressed bytes (truncated or incomplete file)"));
    if (err == Z_ERRNO) throw Error(cat(path_, ": read error after ", offset_, " bytes: ", std::strerror(errno)));
    throw Error(cat(path_, ": corrupt gzip data after ", offset_, " uncompressed bytes: ", msg));
  }

  std::string path_;
  gzFile file_ = nullptr;
  uint64_t offset_ = 0;
};

}  // namespace

IdxArray read_idx(const std::string& path, int expected_ndim) {
  GzReader in(path);

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
