#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace trim {
namespace {
std::mutex g_log_mutex;
std::atomic<int> g_rank{0}, g_world{1};
void emit(const char* tag, const std::string& line) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (g_world.load() > 1)
    std::fprintf(stderr, "[trim rank %d]%s %s\n", g_rank.load(), tag, line.c_str());
  else
    std::fprintf(stderr, "[trim]%s %s\n", tag, line.c_str());
  std::fflush(stderr);
}
}  // namespace

void log_info(const std::string& line) {
  if (g_rank.load() == 0) emit("", line);
}
void log_warn(const std::string& line) { emit(" warning:", line); }
void log_error(const std::string& line) { emit(" error:", line); }

void set_log_rank(int rank, int world) {
  g_rank = rank;
  g_world = world;
}

}  // namespace trim
