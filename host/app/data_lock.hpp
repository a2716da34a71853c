// DATA_DIR/.lock: `cumulo serve` holds it shared for its whole run (several
// servers on one directory keep working as before), `cumulo tenant migrate`
// holds it exclusively, so neither starts while the other runs. flock locks
// die with their process, so a kill -9 never leaves the directory locked.
#pragma once

#include <filesystem>
#include <string>

namespace cumulo::app {

class DataDirLock {
 public:
  enum class Mode { Shared, Exclusive };
  /// Never waits: throws std::runtime_error(`busy_message`) when the lock is
  /// held in a conflicting mode.
  DataDirLock(const std::filesystem::path& data_dir, Mode mode, const std::string& busy_message);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace cumulo::app
