// The node's tenant registry: idTag → {tnId, backend profile}. It lives in
// DATA_DIR/tenants.json, outside every tenant's backends, because it is what
// says where a tenant's data is (a tenant's meta may be on PostgreSQL while
// another's is on SQLite). Writes are atomic (temp file + rename) and
// serialised across processes with flock, so `cumulo tenant …` and a running
// server can share it; the server rereads it on reload (SIGHUP).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cumulo::app {

struct TenantRecord {
  uint32_t tn_id = 0;
  std::string id_tag;
  std::string profile;
  int64_t created_at = 0;  // Unix seconds
};

class TenantRegistry {
 public:
  explicit TenantRegistry(std::filesystem::path file);

  /// Re-reads the file (another process may have changed it).
  void reload();
  std::vector<TenantRecord> list() const;
  std::optional<TenantRecord> get(const std::string& id_tag) const;
  /// Creates a tenant with the next free tnId. Throws std::invalid_argument
  /// for a malformed idTag and std::runtime_error if it exists.
  TenantRecord create(const std::string& id_tag, const std::string& profile);
  /// Creates it unless it exists; returns the record either way.
  TenantRecord ensure(const std::string& id_tag, const std::string& profile);
  /// Atomically rebinds a tenant to another profile (the migration's switch).
  void set_profile(const std::string& id_tag, const std::string& profile);

  /// idTags are DNS names: lower-case letters, digits, '-', '.', 1-253 chars.
  static bool valid_id_tag(const std::string& id_tag);

 private:
  template <class F>
  auto locked_update(F&& f);
  void read_locked();
  void write_locked() const;

  std::filesystem::path file_;
  mutable std::mutex mu_;
  std::map<std::string, TenantRecord> tenants_;
};

}  // namespace cumulo::app
