#pragma once
#include <string>

namespace trim {

// One line to stderr, prefixed with "[trim] ". Thread-safe.
void log_info(const std::string& line);
void log_warn(const std::string& line);

}  // namespace trim
