#include "data/gz_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/io/regular_file.h"
#include "core/text.h"

namespace trim {

// The decoder's state: zlib's inflate over a buffer refilled from the file descriptor. gzread
// is not used because it ignores bytes after the last gzip member ("trailing garbage"), which
// here are refused; and its messages name "<fd:3>" instead of the file.
struct GzReader::State {
  int fd = -1;
  z_stream z{};
  bool inflating = false;  // inflateInit2 done
  std::vector<uint8_t> in = std::vector<uint8_t>(size_t(1) << 20);
  bool eof = false;        // read() returned 0
  uint64_t file_bytes = 0; // compressed bytes read from the file so far
  int mode = -1;           // -1: not yet known; 0: plain; 1: gzip
  bool member_done = false;

  ~State() {
    if (inflating) inflateEnd(&z);
    if (fd >= 0) ::close(fd);
  }
};

namespace {

// zlib's words for a damaged stream, in plain ones.
std::string plain_words(const char* msg) {
  const std::string m = msg ? msg : "";
  if (m == "incorrect data check")
    return "the data does not match its CRC-32 checksum (the file is corrupt)";
  if (m == "incorrect length check")
    return "the data's length does not match the length recorded at its end (the file is corrupt)";
  if (m == "incorrect header check" || m == "unknown compression method" || m == "unknown header flags set")
    return "the gzip header is invalid (" + m + ")";
  if (m.empty()) return "the gzip data is invalid (the file is corrupt)";
  return "the gzip data is invalid (" + m + "; the file is corrupt)";
}

}  // namespace

GzReader::GzReader(const std::string& path, const std::string& what) : path_(path), what_(what) {
  // Only a regular file: a FIFO would block, a symlink loop or an over-long name has no content.
  state_ = std::make_unique<State>();
  state_->fd = open_regular_file(path, what);
}

GzReader::~GzReader() = default;

std::string GzReader::name() const { return cat(what_, " ", quote(path_)); }

bool GzReader::fill() {
  State& s = *state_;
  if (s.eof) return false;
  if (s.z.avail_in > 0 && s.z.next_in != s.in.data()) std::memmove(s.in.data(), s.z.next_in, s.z.avail_in);
  s.z.next_in = s.in.data();
  for (;;) {
    ssize_t got = ::read(s.fd, s.in.data() + s.z.avail_in, s.in.size() - s.z.avail_in);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      throw Error(cat(name(), ": read error after ", s.file_bytes, " bytes of the file: ", std::strerror(errno)));
    if (got == 0) {
      s.eof = true;
      return false;
    }
    s.z.avail_in += unsigned(got);
    s.file_bytes += uint64_t(got);
    return true;
  }
}

void GzReader::start() {
  State& s = *state_;
  while (s.z.avail_in < 2 && fill()) {
  }
  const bool gzip = s.z.avail_in >= 2 && s.in[0] == 0x1f && s.in[1] == 0x8b;
  s.mode = gzip ? 1 : 0;
  if (!gzip) return;
  if (inflateInit2(&s.z, 16 + 15) != Z_OK) throw Error(cat(name(), ": cannot start the gzip decoder (out of memory)"));
  s.inflating = true;
}

size_t GzReader::read(uint8_t* dst, size_t n) {
  State& s = *state_;
  if (s.mode < 0) start();
  size_t done = 0;
  if (s.mode == 0) {  // plain file: the buffered bytes first, then the file
    while (done < n) {
      if (s.z.avail_in == 0 && !fill()) break;
      size_t k = std::min<size_t>(n - done, s.z.avail_in);
      std::memcpy(dst + done, s.z.next_in, k);
      s.z.next_in += k;
      s.z.avail_in -= unsigned(k);
      done += k;
    }
    offset_ += done;
    return done;
  }
  while (done < n) {
    if (s.member_done) {
      // After a member: the end of the file, or another member (RFC 1952 allows several; gzip
      // itself writes them for concatenated files); anything else is refused.
      while (s.z.avail_in < 2 && fill()) {
      }
      if (s.z.avail_in == 0) break;
      if (s.z.avail_in < 2 || s.z.next_in[0] != 0x1f || s.z.next_in[1] != 0x8b) {
        uint64_t at = s.file_bytes - s.z.avail_in;
        throw Error(cat(name(), ": unexpected bytes after the end of the gzip data, at byte ", at,
                        " of the file (after ", offset_ + done,
                        " uncompressed bytes); expected the file to end there (a damaged or appended file)"));
      }
      inflateReset(&s.z);
      s.member_done = false;
    }
    if (s.z.avail_in == 0 && !fill())
      throw Error(cat(name(), ": the gzip stream ends early, after ", offset_ + done,
                      " uncompressed bytes (the file is truncated or incomplete)"));
    auto chunk = unsigned(std::min<size_t>(n - done, size_t(1) << 30));
    s.z.next_out = dst + done;
    s.z.avail_out = chunk;
    int rc = inflate(&s.z, Z_NO_FLUSH);
    done += chunk - s.z.avail_out;
    if (rc == Z_STREAM_END) {
      s.member_done = true;
    } else if (rc == Z_BUF_ERROR) {
      continue;  // needs more input: fill() above
    } else if (rc != Z_OK) {
      const char* msg = rc == Z_MEM_ERROR ? "out of memory" : s.z.msg;
      throw Error(cat(name(), ": ", plain_words(msg), " (after ", offset_ + done, " uncompressed bytes)"));
    }
  }
  offset_ += done;
  return done;
}

bool GzReader::compressed() {
  if (state_->mode < 0) start();
  return state_->mode == 1;
}

}  // namespace trim
