#pragma once
#include <string>

namespace trim {

// One line to stderr, prefixed with "[trim] " ("[trim rank R] " in a job of several ranks).
// Thread-safe.
void log_info(const std::string& line);
void log_warn(const std::string& line);
void log_error(const std::string& line);  // always shown, on every rank

// In a job of `world` ranks: info lines of ranks other than 0 are dropped (rank 0 speaks for the
// job; the ranks do the same work), warnings and errors of every rank carry its number.
void set_log_rank(int rank, int world);

}  // namespace trim
