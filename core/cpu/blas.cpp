#include "core/cpu/blas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "core/log.h"

namespace trim::cpu {
namespace {

// The kernel family this CPU supports, by feature flags rather than model numbers.
const char* core_for_this_cpu() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;  // let OpenBLAS decide
}

template <class T>
T symbol(void* lib, const char* name, const std::string& path) {
  void* p = dlsym(lib, name);
  if (!p) throw Error(path + ": OpenBLAS library has no symbol " + name);
  return reinterpret_cast<T>(p);
}

Blas load() {
  if (!std::getenv("OPENBLAS_CORETYPE"))
    if (const char* core = core_for_this_cpu()) setenv("OPENBLAS_CORETYPE", core, 0);
  std::string path = TRIM_OPENBLAS_LIBRARY;
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {  // the build's copy moved: try the loader's search path
    lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_GLOBAL);
    if (!lib)
      throw Error(path + ": cannot load OpenBLAS (" + dlerror() +
                  "); install it with scripts/setup.sh (Debian package libopenblas0-openmp)");
  }
  Blas b;
  b.sgemm = symbol<decltype(b.sgemm)>(lib, "cblas_sgemm", path);
  b.set_num_threads = symbol<decltype(b.set_num_threads)>(lib, "openblas_set_num_threads", path);
  b.get_corename = symbol<decltype(b.get_corename)>(lib, "openblas_get_corename", path);
  return b;
}

}  // namespace

const Blas& blas() {
  static std::once_flag once;
  static Blas b;
  std::call_once(once, [] { b = load(); });
  return b;
}

std::string blas_core() { return blas().get_corename(); }

}  // namespace trim::cpu
