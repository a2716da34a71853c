#include "app/data_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace cumulo::app {

DataDirLock::DataDirLock(const std::filesystem::path& data_dir, Mode mode, const std::string& busy_message) {
  std::filesystem::create_directories(data_dir);
  const auto path = data_dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
  int rc;
  while ((rc = ::flock(fd_, (mode == Mode::Shared ? LOCK_SH : LOCK_EX) | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    int err = errno;
    ::close(fd_);
    if (err == EWOULDBLOCK) throw std::runtime_error(busy_message);
    throw std::runtime_error("cannot lock " + path.string() + ": " + std::strerror(err));
  }
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace cumulo::app
