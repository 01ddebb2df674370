#pragma once
// Macros and tiny helpers every trim file may use. Safe to include from nvcc-compiled code.
#include <sstream>
#include <string>
#include <utility>

// TRIM_HD marks per-element math that the CPU loops and the CUDA kernels share.
#if defined(__CUDACC__)
#define TRIM_HD __host__ __device__ __forceinline__
#else
#define TRIM_HD inline
#endif

namespace trim {

// cat(a, b, ...) streams every argument into one string (fmt-free, so .cu files can use it).
template <class... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

// Throws trim::Error with "file:line: what" context. Used by TRIM_CHECK for broken invariants and
// invalid arguments; user-input errors throw trim::Error directly with their own message.
[[noreturn]] void fail_at(const char* file, int line, const std::string& what);

}  // namespace trim

// TRIM_CHECK(cond, message-expression): the message is only built when the check fails.
#define TRIM_CHECK(cond, msg)                                                         \
  do {                                                                                \
    if (!(cond)) ::trim::fail_at(__FILE__, __LINE__, std::string("check failed: ") + \
                                                         #cond + ": " + (msg));       \
  } while (0)
