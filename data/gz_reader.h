#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace trim {

// A gzip or plain file read through zlib; a file that does not start with the gzip magic bytes is
// passed through unchanged. Counts the uncompressed bytes read, so that errors can name offsets.
// Only a regular file is opened (see open_regular_file); `what` names its role in messages ("IDX
// file", "CIFAR archive"), and the file is shown through quote().
// Several gzip members one after another are read as one stream (RFC 1952 allows it, and
// `cat a.gz b.gz` makes such a file); any other bytes after the last member are refused, so that a
// damaged or appended file is noticed instead of silently ignored.
class GzReader {
 public:
  GzReader(const std::string& path, const std::string& what);
  ~GzReader();
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns fewer only at the end of the data. Throws trim::Error naming the
  // file, the offset and what is wrong in plain words on a corrupt or truncated gzip stream, bytes
  // after its end, and read errors.
  size_t read(uint8_t* dst, size_t n);

  // Whether the file is gzip-compressed (it starts with the gzip magic bytes).
  bool compressed();
  // Uncompressed bytes read so far.
  uint64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  struct State;  // zlib's stream and the input buffer, kept out of this header
  void start();
  bool fill();
  std::string name() const;

  std::string path_, what_;
  std::unique_ptr<State> state_;
  uint64_t offset_ = 0;
};

}  // namespace trim
