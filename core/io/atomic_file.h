#pragma once
// Whole-file reads and crash-safe whole-file writes. Every output trim keeps (checkpoints, metrics,
// summaries) goes through write_file_atomic so that a crash or a full disk never leaves a half
// written file where a good one used to be.
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace trim {

// Writes a file so that readers see either the old content or the complete new one, never a
// partial file: `write` fills "<path>.tmp-<pid>" in the same directory, which is then flushed,
// fsynced and renamed over <path>; finally the directory is fsynced so the rename survives a crash.
// Missing parent directories are created. On failure the temporary is removed and trim::Error names
// the path and the system error (strerror); an exception thrown by `write` itself propagates
// unchanged after the temporary is removed. `write` should check its own fwrite results (a failed
// write is also caught afterwards through ferror, with a less precise message).
// Not safe for two threads of one process writing the same path at once (they share the
// temporary's name); distinct paths are fine.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write);

// The same, with the whole new content given at once.
void write_file_atomic(const std::string& path, std::string_view contents);

// The name write_file_atomic gives its temporary for `path` in this process: "<path>.tmp-<pid>".
std::string atomic_temporary_name(const std::string& path);

// Removes the temporaries "<name>.tmp-<pid>" in `dir` left by writers that were killed: those whose
// process no longer exists (a live process's are kept: it may be writing). Returns the names it
// removed. Never throws; a folder it cannot list has nothing removed.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

// Returns the whole content of the file at `path` (binary, unchanged). Throws trim::Error naming the
// path and the system error when it is missing or cannot be read (a directory, no permission).
std::string read_file(const std::string& path);

}  // namespace trim
