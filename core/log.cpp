#include "core/log.h"

#include <cstdio>
#include <mutex>

namespace trim {
namespace {
std::mutex g_log_mutex;
void emit(const char* tag, const std::string& line) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::fprintf(stderr, "[trim]%s %s\n", tag, line.c_str());
  std::fflush(stderr);
}
}  // namespace

void log_info(const std::string& line) { emit("", line); }
void log_warn(const std::string& line) { emit(" warning:", line); }

}  // namespace trim
