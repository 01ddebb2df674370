#include "data/gz_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/io/regular_file.h"

namespace trim {
namespace {
gzFile gz(void* f) { return static_cast<gzFile>(f); }
}  // namespace

GzReader::GzReader(const std::string& path, const std::string& what) : path_(path) {
  // Only a regular file: a FIFO would block, a symlink loop or an over-long name has no content.
  int fd = open_regular_file(path, what);
  errno = 0;
  gzFile f = gzdopen(fd, "rb");
  if (!f) {
    int err = errno;
    ::close(fd);
    throw Error(cat("cannot open ", what, " ", path, ": ", err ? std::strerror(err) : "out of memory"));
  }
  file_ = f;
  gzbuffer(f, 1 << 20);  // fewer read() calls on 30 MB files
}

GzReader::~GzReader() { gzclose(gz(file_)); }

size_t GzReader::read(uint8_t* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    auto chunk = unsigned(std::min<size_t>(n - done, size_t(1) << 30));  // gzread takes an unsigned count
    int got = gzread(gz(file_), dst + done, chunk);
    if (got < 0) fail();
    done += size_t(got);
    offset_ += uint64_t(got);
    if (unsigned(got) < chunk) {
      // A short read is the end of the data, unless zlib recorded why it stopped early.
      int err = Z_OK;
      gzerror(gz(file_), &err);
      if (err != Z_OK) fail();
      break;
    }
  }
  return done;
}

bool GzReader::compressed() { return gzdirect(gz(file_)) == 0; }

void GzReader::fail() {
  int err = Z_OK;
  const char* msg = gzerror(gz(file_), &err);
  if (err == Z_BUF_ERROR)
    throw Error(cat(path_, ": the gzip stream ends early, after ", offset_,
                    " uncompressed bytes (truncated or incomplete file)"));
  if (err == Z_ERRNO) throw Error(cat(path_, ": read error after ", offset_, " bytes: ", std::strerror(errno)));
  throw Error(cat(path_, ": corrupt gzip data after ", offset_, " uncompressed bytes: ", msg));
}

}  // namespace trim
