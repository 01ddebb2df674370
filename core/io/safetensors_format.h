#pragma once
// The safetensors layout without tensors (see safetensors.h for the format): the header's parser
// and validator and the data checksum. Separate from the Tensor code so that the reader's whole
// validation can be fuzzed on its own (test/fuzz/).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace trim {

// The metadata key holding the CRC-32 (zlib's, as 8 lowercase hex digits) of the whole data
// section, the bytes after the header. Any safetensors reader sees it as one more metadata string.
constexpr const char* kSafetensorsChecksumKey = "trim.data_crc32";
// The metadata key holding the CRC-32 of the header's meaning (safetensors_header_crc32): every
// tensor's name, dtype, shape and offsets and every other metadata entry. The data checksum alone
// passes two same-size tensors whose names were swapped, or an edited metadata value.
constexpr const char* kSafetensorsHeaderChecksumKey = "trim.header_crc32";

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // relative to the data section
};

struct SafetensorsIndex {
  std::vector<SafetensorsEntry> entries;        // sorted by data offset: they tile the data section
  std::map<std::string, std::string> metadata;  // without the two checksum keys
  std::optional<uint32_t> checksum;             // when the file has one
  std::optional<uint32_t> header_checksum;      // when the file has one (checked by the parser)
  uint64_t data_start = 0, data_size = 0;       // in the file
};

const char* safetensors_dtype_code(DType t);  // "F32", "I32", "U8"

// The header length from the file's first 8 bytes; refuses lengths past the end of a file of
// `file_size` bytes (>= 8) or above 100 MB.
uint64_t parse_safetensors_length(const std::string& path, const unsigned char bytes[8], uint64_t file_size);

// Parses and validates the header text (the bytes after the length), for a file of `file_size`
// bytes: every refusal load_safetensors documents, as one trim::Error starting "<path>: ",
// including a header that does not match its "trim.header_crc32".
SafetensorsIndex parse_safetensors_header(const std::string& path, const std::string& header, uint64_t file_size);

// zlib's CRC-32, continued from `crc` (0 to start).
uint32_t safetensors_crc32(uint32_t crc, const void* data, size_t n);
std::string safetensors_checksum_text(uint32_t crc);

// The CRC-32 of a canonical text of `metadata` (without the checksum keys; by key) and of
// `entries` (in file order: name, dtype, shape, offsets), each field ended by a NUL byte, so that
// no two different headers give the same text. Independent of JSON spacing and key order, so a
// tool that rewrites the header without changing its meaning keeps it valid.
uint32_t safetensors_header_crc32(const std::map<std::string, std::string>& metadata,
                                  const std::vector<SafetensorsEntry>& entries);

// Refuses the file when it has a checksum and `computed` (the data section's) differs.
void check_safetensors_checksum(const std::string& path, const SafetensorsIndex& index, uint32_t computed);

// Everything load_safetensors checks, on a whole file held in memory (no tensors are made).
SafetensorsIndex check_safetensors_bytes(const std::string& path, std::string_view file);

}  // namespace trim
