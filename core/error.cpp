#include "core/error.h"

#include <cstdio>
#include <exception>
#include <new>
#include <system_error>

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

int report_exception(const char* app) noexcept {
  std::string what;
  try {
    try {
      throw;
    } catch (const Error& e) {
      what = e.what();
    } catch (const std::bad_alloc&) {
      what = "out of memory (std::bad_alloc); the run needs more memory than this machine could give";
    } catch (const std::system_error& e) {
      what = std::string("system error: ") + e.what();
    } catch (const std::exception& e) {
      what = std::string("unexpected exception: ") + e.what();
    } catch (...) {
      what = "unexpected exception of an unknown type";
    }
    // One line, whatever the message holds: a NUL would end the printed line early (the rest of
    // the message lost), a newline would split it. Messages quote user strings (quote()), so this
    // only catches what a library put there.
    std::string line;
    for (char c : what) {
      if (c == '\n' || c == '\r') line += ' ';
      else if (c == '\0') line += "\\u0000";
      else line += c;
    }
    what.swap(line);
  } catch (...) {
    what = "unexpected exception (and out of memory while describing it)";
  }
  std::fprintf(stderr, "%s: error: %.*s\n", app, int(what.size()), what.data());
  return 1;
}

}  // namespace trim
