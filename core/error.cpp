#include "core/error.h"

namespace trim {

void fail_at(const char* file, int line, const std::string& what) {
  std::string f(file);
  // Keep paths short and stable: drop everything before the project-relative part.
  for (const char* top : {"/core/", "/layers/", "/spiking/", "/pruning/", "/data/", "/models/", "/apps/",
                          "/test/"}) {
    auto pos = f.rfind(top);
    if (pos != std::string::npos) {
      f = f.substr(pos + 1);
      break;
    }
  }
  throw Error(f + ":" + std::to_string(line) + ": " + what);
}

}  // namespace trim
