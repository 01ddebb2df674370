#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
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
  std::string tmp = atomic_temporary_name(path);
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

std::string atomic_temporary_name(const std::string& path) { return cat(path, ".tmp-", ::getpid()); }

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos || at == 0 || at + 5 == name.size() || name.size() - at > 5 + 9) continue;
    long pid = 0;
    bool digits = true;
    for (size_t i = at + 5; i < name.size(); ++i) {
      digits = digits && name[i] >= '0' && name[i] <= '9';
      pid = pid * 10 + (name[i] - '0');
    }
    if (!digits || pid <= 0 || pid == long(::getpid())) continue;
    // kill(pid, 0) probes without signalling: ESRCH means no such process, so its write is dead.
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    if (fs::is_regular_file(it->symlink_status(rm)) && fs::remove(it->path(), rm)) removed.push_back(name);
  }
  return removed;
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
