#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace trim {
namespace {

namespace fs = std::filesystem;

// errno can be 0 when a stdio stream failed without a system call failing; say so plainly
// instead of printing "Success".
std::string describe_errno(int err) { return err ? std::strerror(err) : "unknown I/O error"; }

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw Error(cat(path, ": ", what, ": ", describe_errno(err)));
}

// Makes a completed rename durable: on POSIX the new directory entry is only guaranteed to reach
// the disk once the directory itself is fsynced.
void sync_directory(const std::string& path, const fs::path& dir) {
  std::string d = dir.empty() ? std::string(".") : dir.string();
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(path, cat("written, but cannot open its directory ", d, " to sync it"), errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot sync a directory and answer EINVAL; there is nothing more to do there.
  if (rc != 0 && err != EINVAL) fail(path, cat("written, but syncing its directory ", d, " failed"), err);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  if (path.empty()) throw Error("write_file_atomic: the path is empty; expected a file name");
  fs::path dir = fs::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(cat(path, ": cannot create its directory ", dir.string(), ": ", ec.message()));
  }

  // Same directory as the target, so the final rename never crosses file systems and is atomic.
  std::string tmp = cat(path, ".tmp-", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail(path, cat("cannot create the temporary file ", tmp), errno);
  std::FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, cat("cannot open a stream on the temporary file ", tmp), err);
  }

  try {
    write(f);
    errno = 0;
    if (std::fflush(f) != 0 || std::ferror(f)) fail(path, cat("cannot write the temporary file ", tmp), errno);
    if (::fsync(::fileno(f)) != 0) fail(path, cat("cannot sync the temporary file ", tmp), errno);
  } catch (...) {
    std::fclose(f);
    ::unlink(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, cat("cannot close the temporary file ", tmp), err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, cat("cannot rename the temporary file ", tmp, " over it"), err);
  }
  sync_directory(path, dir);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  write_file_atomic(path, [&](std::FILE* f) {
    if (!contents.empty() && std::fwrite(contents.data(), 1, contents.size(), f) != contents.size())
      fail(path, cat("cannot write ", contents.size(), " bytes"), errno);
  });
}

std::string read_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, "cannot open for reading", errno);
  std::string out;
  struct stat st {};
  if (::fstat(::fileno(f.get()), &st) == 0 && S_ISREG(st.st_mode)) out.reserve(size_t(st.st_size));
  char buf[1 << 16];
  for (;;) {
    size_t got = std::fread(buf, 1, sizeof buf, f.get());
    out.append(buf, got);
    if (got < sizeof buf) break;
  }
  // A directory opens fine on Linux and fails here with EISDIR.
  if (std::ferror(f.get())) fail(path, cat("cannot read (after ", out.size(), " bytes)"), errno);
  return out;
}

}  // namespace trim
