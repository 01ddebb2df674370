#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trim {

// An array read from an IDX file (the MNIST file format): its dimensions and its u8 elements in
// row-major order, data.size() == product of dims.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file of u8 elements, gzip-compressed (.gz, as distributed) or plain. The format is a
// big-endian magic 0x0000TTNN (TT = data type, 0x08 for u8; NN = number of dimensions), NN big-endian
// u32 dimension sizes, then the elements; e.g. 0x00000803 for images [N, H, W], 0x00000801 for
// labels [N]. expected_ndim >= 0 requires that many dimensions (-1 accepts any).
//
// Every failure throws trim::Error with one message naming the path and what went wrong: file missing
// or unreadable, corrupt or truncated gzip stream, wrong magic (expected and found, in hex), data
// type not u8, wrong dimension count, or a data size that differs from the product of the
// dimensions (both sizes and the offset where the data starts; offsets count uncompressed bytes).
// Only a regular file is opened: a FIFO, a folder or a symlink loop is refused without blocking.
IdxArray read_idx(const std::string& path, int expected_ndim = -1);

}  // namespace trim
