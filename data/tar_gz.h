#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trim {

// The contents of the regular-file members of a (gzip-compressed or plain) ustar / GNU tar archive
// whose base names (the part after the last '/') are in `wanted`, keyed by base name. Other
// members are skipped unread. Throws trim::Error naming the archive and the offset for a corrupt
// gzip stream, a header whose checksum or size field is invalid, or a member cut short. A wanted
// name that is absent is simply missing from the result.
std::map<std::string, std::vector<uint8_t>> read_tar_members(const std::string& path,
                                                             const std::vector<std::string>& wanted);

}  // namespace trim
