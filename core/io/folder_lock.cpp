#include "core/io/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace trim {
namespace {

// The pid the holder wrote, or a sentence when it wrote none yet (it writes right after locking).
std::string holder(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s = n > 0 ? std::string(buf, size_t(n)) : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return "a process whose pid it did not record";
  return "pid " + s;
}

}  // namespace

FolderLock::FolderLock(const std::string& folder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    std::filesystem::create_directories(folder, ec);
    if (ec) throw Error(cat(folder, ": cannot create the output folder: ", ec.message()));
  }
  const std::string path = folder + "/" + kFolderLockName;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0)
    throw Error(cat(folder, ": cannot open the lock file ", kFolderLockName, " of the output folder: ",
                    std::strerror(errno)));
  int rc;
  do rc = ::flock(fd_, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    const std::string who = err == EWOULDBLOCK ? holder(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw Error(cat(folder, ": another trim process (", who, ") is running in this output folder; wait for it to "
                      "end or stop it (SIGTERM or Ctrl-C checkpoint it for --resume), or choose another output "
                      "(--set output=...)"));
    throw Error(cat(folder, ": cannot lock the output folder (", kFolderLockName, "): ", std::strerror(err)));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Best effort: the pid only improves the message of a process that is refused.
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace trim
