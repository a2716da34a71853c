#include "app/tenant_registry.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace cumulo::app {

namespace {
// Cross-process lock on a sidecar file (the registry itself is replaced by rename).
class FileLock {
 public:
  explicit FileLock(const fs::path& p) : fd_(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + p.string());
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

int64_t now_s() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }
}  // namespace

TenantRegistry::TenantRegistry(fs::path file) : file_(std::move(file)) {
  fs::create_directories(file_.parent_path());
  reload();
}

bool TenantRegistry::valid_id_tag(const std::string& t) {
  if (t.empty() || t.size() > 253 || t.front() == '.' || t.back() == '.' || t.front() == '-') return false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok || (c == '.' && t[i + 1] == '.')) return false;
  }
  return true;
}

void TenantRegistry::read_locked() {
  tenants_.clear();
  if (!fs::exists(file_)) return;
  std::ifstream in(file_);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tenants") || !j["tenants"].is_object())
    throw std::runtime_error(file_.string() + " is corrupt: expected {\"tenants\": {idTag: {tnId, profile}}}");
  for (auto& [id, t] : j["tenants"].items())
    tenants_[id] = TenantRecord{t.at("tnId").get<uint32_t>(), id, t.at("profile").get<std::string>(), t.value("createdAt", int64_t{0})};
}

void TenantRegistry::write_locked() const {
  json t = json::object();
  for (const auto& [id, r] : tenants_) t[id] = {{"tnId", r.tn_id}, {"profile", r.profile}, {"createdAt", r.created_at}};
  json j = {{"version", 1}, {"tenants", t}};
  auto tmp = file_;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  // fsync the data, then rename: the registry is always one whole version.
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::rename(tmp, file_);
  // And the directory, so the rename itself survives a crash (a migration's
  // switch must not be undone by a power loss after it was reported).
  int dfd = ::open(file_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

template <class F>
auto TenantRegistry::locked_update(F&& f) {
  std::lock_guard lk(mu_);
  auto lock_file = file_;
  lock_file += ".lock";
  FileLock fl(lock_file);
  read_locked();  // the latest version, whoever wrote it
  return f();
}

void TenantRegistry::reload() {
  std::lock_guard lk(mu_);
  read_locked();
}

std::vector<TenantRecord> TenantRegistry::list() const {
  std::lock_guard lk(mu_);
  std::vector<TenantRecord> out;
  for (const auto& [_, r] : tenants_) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.tn_id < b.tn_id; });
  return out;
}

std::optional<TenantRecord> TenantRegistry::get(const std::string& id_tag) const {
  std::lock_guard lk(mu_);
  auto it = tenants_.find(id_tag);
  if (it == tenants_.end()) return std::nullopt;
  return it->second;
}

TenantRecord TenantRegistry::create(const std::string& id_tag, const std::string& profile) {
  if (!valid_id_tag(id_tag)) throw std::invalid_argument("invalid idTag '" + id_tag + "': use a lower-case DNS name such as alice.example.com");
  return locked_update([&] {
    if (tenants_.count(id_tag)) throw std::runtime_error("tenant " + id_tag + " already exists");
    uint32_t next = 1;
    for (const auto& [_, r] : tenants_) next = std::max(next, r.tn_id + 1);
    TenantRecord r{next, id_tag, profile, now_s()};
    tenants_[id_tag] = r;
    write_locked();
    return r;
  });
}

TenantRecord TenantRegistry::ensure(const std::string& id_tag, const std::string& profile) {
  if (auto r = get(id_tag)) return *r;
  try {
    return create(id_tag, profile);
  } catch (const std::runtime_error&) {
    if (auto r = get(id_tag)) return *r;  // created concurrently
    throw;
  }
}

void TenantRegistry::set_profile(const std::string& id_tag, const std::string& profile) {
  locked_update([&] {
    auto it = tenants_.find(id_tag);
    if (it == tenants_.end()) throw std::runtime_error("no tenant " + id_tag);
    it->second.profile = profile;
    write_locked();
    return 0;
  });
}

}  // namespace cumulo::app
