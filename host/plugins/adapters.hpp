// Host-side typed handles over plugin instances. They turn cm_status results
// into PluginError exceptions and collect sink output into std::string, so
// host code never touches the C ABI directly. Each handle holds the instance
// (and thereby the library) alive for as long as it exists.
#pragma once

#include <cumulo/cumulo_abi.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "plugins/plugin_manager.hpp"

namespace cumulo::plugins {

inline cm_str to_cm(std::string_view s) { return {s.data(), s.size()}; }

/// Host-owned sink collecting into a string.
struct StringSink {
  std::string data;
  cm_sink sink{this, [](void* ctx, const void* p, size_t n) -> int {
                 static_cast<StringSink*>(ctx)->data.append(static_cast<const char*>(p), n);
                 return 0;
               }};
};

/// Host-owned sink forwarding chunks to a callback (false = stop). An
/// exception from the callback must not unwind through plugin frames: it is
/// parked here, the plugin is told to stop, and rethrow() raises it after.
struct CallbackSink {
  std::function<bool(std::string_view)> fn;
  std::exception_ptr error;
  cm_sink sink{this, [](void* ctx, const void* p, size_t n) -> int {
                 auto* self = static_cast<CallbackSink*>(ctx);
                 try {
                   return self->fn(std::string_view(static_cast<const char*>(p), n)) ? 0 : 1;
                 } catch (...) {
                   self->error = std::current_exception();
                   return 1;
                 }
               }};
  void rethrow() const {
    if (error) std::rethrow_exception(error);
  }
};

/// The tenant as it crosses the boundary (owns the id_tag storage).
struct TenantRef {
  uint32_t tn_id = 0;
  std::string id_tag;
  cm_tenant c() const { return cm_tenant{sizeof(cm_tenant), tn_id, to_cm(id_tag)}; }
};

/// Throws PluginError if `st` is not CM_OK, with the plugin's message.
void check(int32_t st, const cm_error& err, std::string_view what);
cm_error new_error();

/// A function slot the plugin did not provide.
[[noreturn]] void unsupported(std::string_view what);

class AdapterHandle {
 public:
  AdapterHandle() = default;
  explicit AdapterHandle(std::shared_ptr<Instance> inst) : inst_(std::move(inst)) {}
  explicit operator bool() const { return inst_ != nullptr; }
  const Instance& instance() const { return *inst_; }
  const std::shared_ptr<Instance>& instance_ptr() const { return inst_; }
  /// Calls the kind's health slot (absent = healthy).
  void health() const;
  /// "meta adapter meta-sqlite (plugin sqlite 0.1.0)", for messages.
  std::string describe() const;

  // The portable tenant dump (ABI 1.1; auth, meta and rtdb instances only).
  bool has_dump() const;
  /// Throws PluginError(CM_UNSUPPORTED) naming the plugin unless has_dump().
  void require_dump() const;
  /// Streams the items after `after` ("" or t + "\n" + k), at most `limit`
  /// (0 = all), in chunks to `out`. `out` returning false asks the adapter to
  /// stop; export_tenant then returns false instead of throwing.
  bool export_tenant(const TenantRef& tn, std::string_view after, uint32_t limit, const std::function<bool(std::string_view)>& out) const;
  /// Upserts (or, "v":null, deletes) every item line, atomically.
  void import_items(const TenantRef& tn, std::string_view lines) const;

 protected:
  void* self() const { return inst_->self(); }
  const Factory& f() const { return inst_->factory(); }
  std::shared_ptr<Instance> inst_;
};

class BlobHandle : public AdapterHandle {
 public:
  using AdapterHandle::AdapterHandle;
  /// Streams `chunks()` (returns empty view at end) into a new blob and
  /// commits it under `blob_id`; aborts on any failure.
  void write(const TenantRef& tn, std::string_view blob_id, const std::function<std::string_view()>& chunks) const;
  void write_all(const TenantRef& tn, std::string_view blob_id, std::string_view bytes) const;
  void read(const TenantRef& tn, std::string_view blob_id, uint64_t offset, uint64_t length, const std::function<bool(std::string_view)>& out) const;
  std::string read_all(const TenantRef& tn, std::string_view blob_id) const;
  uint64_t size(const TenantRef& tn, std::string_view blob_id) const;
  void remove(const TenantRef& tn, std::string_view blob_id) const;
  std::string list(const TenantRef& tn, std::string_view after, uint32_t limit) const;
};

class AuthHandle : public AdapterHandle {
 public:
  using AdapterHandle::AdapterHandle;
  void set_password(const TenantRef& tn, std::string_view pw) const;
  /// false on CM_PERMISSION (wrong password); throws on other errors.
  bool check_password(const TenantRef& tn, std::string_view pw) const;
  void put_secret(const TenantRef& tn, std::string_view record_json) const;
  std::string get_secret(const TenantRef& tn, std::string_view name) const;
  /// "" when the secret does not exist.
  std::string find_secret(const TenantRef& tn, std::string_view name) const;
  void delete_secret(const TenantRef& tn, std::string_view name) const;
  /// JSON array of the records whose name starts with `prefix`.
  std::string list_secrets(const TenantRef& tn, std::string_view prefix) const;
  std::string create_api_key(const TenantRef& tn, std::string_view options_json) const;
  /// {"keyId","tnId","scopes"}, or "" for an unknown/expired key.
  std::string validate_api_key(std::string_view key) const;
  void delete_api_key(const TenantRef& tn, std::string_view key_id) const;
};

class MetaHandle : public AdapterHandle {
 public:
  using AdapterHandle::AdapterHandle;
  const cm_meta_vtable& vt() const { return f().vt.meta; }
  // Tenants part (tenants, profiles, public keys). get_*/find_* return ""
  // when the record does not exist.
  bool has_tenants() const { return vt().tenants != nullptr; }
  std::string create_tenant(std::string_view tenant_json) const;
  std::string get_tenant(const TenantRef& tn) const;
  void update_tenant(const TenantRef& tn, std::string_view patch_json) const;
  std::string list_tenants(std::string_view filter_json) const;
  void upsert_profile(const TenantRef& tn, std::string_view profile_json) const;
  std::string get_profile(const TenantRef& tn, std::string_view id_tag) const;
  std::string list_profiles(const TenantRef& tn, std::string_view filter_json) const;
  void put_public_key(std::string_view key_json) const;
  std::string get_public_key(std::string_view id_tag, std::string_view key_id) const;
  // Actions part
  bool has_actions() const { return vt().actions != nullptr; }
  std::string list_actions(const TenantRef& tn, std::string_view filter_json) const;
  /// {"stored": record, "replaced"?: id}; CM_CONFLICT for a known actionId.
  std::string put_action(const TenantRef& tn, std::string_view action_json) const;
  std::string get_action(const TenantRef& tn, std::string_view action_id) const;  // "" if absent
  void update_action(const TenantRef& tn, std::string_view action_id, std::string_view patch_json) const;
  // Tasks part
  bool has_tasks() const { return vt().tasks != nullptr; }
  std::string create_task(std::string_view json) const;
  void update_task(int64_t id, std::string_view patch) const;
  std::string get_task(int64_t id) const;  // empty if not found
  std::string list_pending_tasks() const;
  void delete_task(int64_t id) const;
  // Settings part
  bool has_settings() const { return vt().settings != nullptr; }
  void put_setting(const TenantRef& tn, std::string_view key, std::string_view value_json) const;
  std::string get_setting(const TenantRef& tn, std::string_view key) const;
  void delete_setting(const TenantRef& tn, std::string_view key) const;
  /// One JSON object {key: value, …} of the settings whose key starts with `prefix`.
  std::string list_settings(const TenantRef& tn, std::string_view prefix) const;
  // Records part
  bool has_records() const { return vt().records != nullptr; }
  void put_record(const TenantRef& tn, std::string_view coll, std::string_view key, std::string_view json) const;
  std::string get_record(const TenantRef& tn, std::string_view coll, std::string_view key) const;
  void delete_record(const TenantRef& tn, std::string_view coll, std::string_view key) const;
  /// "" when the record does not exist.
  std::string find_record(const TenantRef& tn, std::string_view coll, std::string_view key) const;
  std::string list_records(const TenantRef& tn, std::string_view coll, std::string_view filter_json) const;
};

class RtdbHandle : public AdapterHandle {
 public:
  using AdapterHandle::AdapterHandle;
  std::string transact(const TenantRef& tn, std::string_view db, std::string_view ops_json) const;
  std::string get(const TenantRef& tn, std::string_view db, std::string_view path) const;
  std::string query(const TenantRef& tn, std::string_view db, std::string_view coll, std::string_view q) const;
};

class CrdtHandle : public AdapterHandle {
 public:
  using AdapterHandle::AdapterHandle;
  uint64_t append(const TenantRef& tn, std::string_view doc, std::string_view update) const;
  void read(const TenantRef& tn, std::string_view doc, uint64_t after, const std::function<void(uint64_t, std::string_view)>& fn) const;
  /// The tenant's document ids, one per "\n"-terminated line.
  std::string list(const TenantRef& tn) const;
  void remove(const TenantRef& tn, std::string_view doc) const;
};

class ActionTypeHandle : public AdapterHandle {
 public:
  using AdapterHandle::AdapterHandle;
  std::string definitions() const;
  std::string run_hook(const TenantRef& tn, std::string_view hook, std::string_view input_json) const;
};

class FileProcessorHandle : public AdapterHandle {
 public:
  using AdapterHandle::AdapterHandle;
  bool accepts(std::string_view content_type) const;
  std::string probe(std::string_view path, std::string_view content_type) const;
  std::string generate(std::string_view request_json) const;
};

}  // namespace cumulo::plugins
