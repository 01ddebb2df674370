#pragma once
// One process per folder: an exclusive flock(2) on "<folder>/.lock" for as long as a FolderLock
// lives. The kernel drops the lock when the descriptor closes, so it ends with the process however
// that ends (exit, exception, kill -9): no stale lock is ever left to clean up. The file holds the
// holder's pid, for the message of the process that is refused. (flock does not reach across
// machines on some network file systems; one machine's processes are always kept apart.)
#include <string>

namespace trim {

constexpr const char* kFolderLockName = ".lock";

class FolderLock {
 public:
  // Creates `folder` (and its parents) when absent, opens or creates "<folder>/.lock" and takes
  // the lock without waiting. Throws trim::Error naming the folder and, when the lock is held,
  // the holder's pid as its lock file says (a folder another process holds is left as it was).
  explicit FolderLock(const std::string& folder);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace trim
