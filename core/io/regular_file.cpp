#include "core/io/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace trim {
namespace {

const char* kind_of(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISLNK(m)) return "a symbolic link";
  return "a special file";
}

std::string describe_errno(int err) {
  switch (err) {
    case ENOENT: return "nothing (no such file or directory)";
    case ELOOP: return "a symlink loop (too many levels of symbolic links)";
    case ENAMETOOLONG: return "a path longer than the OS allows";
    case ENOTDIR: return "a path through something that is not a directory";
    case EACCES: return "a file that is not readable (permission denied)";
    default: return std::string("an inaccessible path (") + std::strerror(err) + ")";
  }
}

}  // namespace

std::string describe_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return kind_of(st.st_mode);
  return describe_errno(errno);
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

int open_regular_file(const std::string& path, const std::string& what) {
  if (path.empty()) throw Error(cat("the ", what, " path is empty; expected a file name"));
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    throw Error(cat(path, ": cannot open the ", what, ": expected a readable regular file, found ", describe_errno(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    std::string found = ::fstat(fd, &st) == 0 ? kind_of(st.st_mode) : describe_errno(errno);
    ::close(fd);
    throw Error(cat(path, ": cannot use it as the ", what, ": expected a regular file, found ", found));
  }
  // Regular files never block; clear the flag so reads behave normally.
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::string read_regular_file(const std::string& path, const std::string& what) {
  int fd = open_regular_file(path, what);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      ::close(fd);
      throw Error(cat(path, ": cannot read the ", what, " (after ", out.size(), " bytes): ", std::strerror(err)));
    }
    if (got == 0) break;
    out.append(buf, size_t(got));
  }
  ::close(fd);
  return out;
}

}  // namespace trim
