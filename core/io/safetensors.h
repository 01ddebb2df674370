#pragma once
// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), so that
// PyTorch, NumPy and the Hugging Face tools read what trim writes and the other way round.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header, then the raw
// little-endian tensor data. The header is
//   {"__metadata__": {"<key>": "<string value>", ...},
//    "<name>": {"dtype": "F32"|"I32"|"U8", "shape": [..], "data_offsets": [begin, end]}, ...}
// with offsets relative to the start of the data section; the tensors cover the data section
// exactly, without gaps or overlaps.
#include <map>
#include <string>
#include <vector>

#include "core/io/safetensors_format.h"
#include "core/tensor.h"

namespace trim {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Writes `tensors` (in the order given, contiguous, no gaps) and `metadata` to `path`, atomically
// (see write_file_atomic). The header is padded with spaces so that the data starts at a multiple
// of 8 bytes, as the reference implementation does. "__metadata__" always holds, after `metadata`,
// the CRC-32 of the data section as "trim.data_crc32" (kSafetensorsChecksumKey) and the CRC-32 of
// the header's meaning as "trim.header_crc32" (kSafetensorsHeaderChecksumKey; keys `metadata` must
// not use): two more strings to PyTorch's and NumPy's safetensors readers. Tensors may live on any device; each is copied to the host while it is written. Names must
// be non-empty, unique, valid UTF-8 and not "__metadata__"; tensors must be defined. Any violation
// throws trim::Error naming the path and the tensor, before anything is written.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::vector<NamedTensor> tensors;  // CPU tensors, in file order (by data offset)
  std::map<std::string, std::string> metadata;  // without the two checksum keys
  bool has_checksum = false;                    // the file had one (and its data matched it)
  bool has_header_checksum = false;             // the file had one (and its header matched it)

  // The tensor called `name`, or nullptr if the file has none.
  const Tensor* find(const std::string& name) const;
};

// Reads a whole safetensors file into CPU tensors. Supports the dtypes F32, I32, U8 and BF16 and shapes
// of at most 5 dimensions (a 0-d scalar has shape []); zero-size tensors have begin == end.
// Refuses every malformed file with one trim::Error whose message starts with the path and says
// what was expected and what was found, with the byte offset or header key where it applies:
// short files, header lengths past the end of the file or above 100 MB, invalid JSON, duplicate
// keys, wrong entry structure or types, unknown or unsupported dtypes, data ranges that are
// reversed, out of the file, of the wrong size, overlapping, leaving gaps or followed by trailing
// bytes, and non-string metadata. Unknown keys inside a tensor entry are refused too. Only a
// regular file is opened (a FIFO or device is refused without blocking). When the metadata holds
// "trim.data_crc32", the data must match it (a flipped bit is refused as corrupt); files written
// by other tools have none and load unchecked. Likewise "trim.header_crc32": when present, the
// tensor names, dtypes, shapes, offsets and metadata must match it (swapped or edited entries are
// refused).
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace trim
