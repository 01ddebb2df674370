#pragma once
#include <cstdint>
#include <string>

namespace trim {

// A gzip or plain file read through zlib, which passes non-gzip files through unchanged. Counts the
// uncompressed bytes read, so that errors can name offsets. Only a regular file is opened (see
// open_regular_file); `what` names its role in messages ("IDX file", "CIFAR archive").
class GzReader {
 public:
  GzReader(const std::string& path, const std::string& what);
  ~GzReader();
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns fewer only at the end of the data. Throws trim::Error naming the
  // file and the offset on a corrupt or truncated gzip stream and on read errors.
  size_t read(uint8_t* dst, size_t n);

  // Whether the file is gzip-compressed (valid after the first read).
  bool compressed();
  // Uncompressed bytes read so far.
  uint64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail();

  std::string path_;
  void* file_ = nullptr;  // gzFile, kept out of this header
  uint64_t offset_ = 0;
};

}  // namespace trim
