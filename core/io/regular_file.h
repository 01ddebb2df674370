#pragma once
// Opening the files trim reads (manifests, checkpoints, data, metrics) so that only regular files
// are ever read: a FIFO would block forever in open(), a device could be endless, a directory or a
// symlink loop has no content. Every refusal is one trim::Error naming the path, what was expected
// and what was found.
#include <string>

namespace trim {

// What is at `path`, for messages: "a regular file", "a directory", "a FIFO", "a symlink loop",
// "nothing (no such file)", ... Never throws.
std::string describe_path(const std::string& path);

// Opens `path` read-only and returns the descriptor (close it with ::close), after checking that
// it is a regular file; `what` names the file's role ("manifest", "checkpoint"). A FIFO is opened
// without blocking, so it is refused instead of waiting for a writer.
int open_regular_file(const std::string& path, const std::string& what);

// The whole content of a regular file (see open_regular_file).
std::string read_regular_file(const std::string& path, const std::string& what);

// Whether `path` names an existing directory entry (a file, folder, symlink, even a dangling or
// looping one). Never throws; a path the OS refuses (too long) counts as not there.
bool path_exists(const std::string& path);

}  // namespace trim
