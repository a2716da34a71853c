// sdk.hpp — the C++ face of the Cumulo plugin ABI (header-only).
//
// Plugin authors derive from the interface classes below, register them in
// the body of CUMULO_PLUGIN(...) and never see a C struct. Everything in this
// header compiles *into the plugin*, so it may use any C++ standard library;
// only the types of cumulo_abi.h cross into the host. Exceptions thrown by
// plugin code are caught at the boundary and become error results.
//
//   #include <cumulo/sdk.hpp>
//   class MemBlob : public cumulo::sdk::BlobAdapter { ... };
//   CUMULO_PLUGIN("mem-blob", "1.0.0", "Blobs in memory", CM_KIND_BLOB) {
//     reg.add<MemBlob>("mem-blob");
//   }
#pragma once

#include <cumulo/cumulo_abi.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace cumulo::sdk {

// ---- status and errors -------------------------------------------------------

/// Result of a call: a cm_status code plus a human-readable message.
struct Status {
  cm_status code = CM_OK;
  std::string message;

  static Status Ok() { return {}; }
  static Status Error(cm_status c, std::string msg) { return {c, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {CM_NOT_FOUND, std::move(msg)}; }
  static Status Invalid(std::string msg) { return {CM_INVALID, std::move(msg)}; }
  static Status Unsupported(std::string msg = "not supported by this plugin") { return {CM_UNSUPPORTED, std::move(msg)}; }
  bool ok() const { return code == CM_OK; }
};

/// Throw this from plugin code to return a specific status; any other
/// exception becomes CM_INTERNAL with its what() text.
class Error : public std::runtime_error {
 public:
  Error(cm_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
  cm_status code() const { return code_; }

 private:
  cm_status code_;
};

/// The tenant a call acts for (borrowed; valid during the call).
struct Tenant {
  uint32_t tn_id = 0;
  std::string_view id_tag;
};

/// Host-owned output. write() returns false when the host wants to stop.
class Sink {
 public:
  explicit Sink(const cm_sink* s) : s_(s) {}
  bool write(std::string_view bytes) const { return s_->write(s_->ctx, bytes.data(), bytes.size()) == 0; }

 private:
  const cm_sink* s_;
};

/// Host-owned input stream for uploads.
class Source {
 public:
  explicit Source(const cm_source* s) : s_(s) {}
  /// Reads up to `cap` bytes; returns the count, 0 at end. Throws on error.
  size_t read(void* buf, size_t cap) const {
    size_t got = 0;
    int32_t rc = s_->read(s_->ctx, buf, cap, &got);
    if (rc != CM_OK) throw Error(static_cast<cm_status>(rc), "source read failed");
    return got;
  }

 private:
  const cm_source* s_;
};

namespace detail {
// Defined once per plugin by CUMULO_PLUGIN; hidden so two plugins never share it.
__attribute__((visibility("hidden"))) const cm_host_api*& host_slot();
}  // namespace detail

/// Services the host lends to plugins (logging, clock, metrics).
struct Host {
  static void log(cm_log_level level, std::string_view msg) {
    const cm_host_api* h = detail::host_slot();
    if (h && h->log) h->log(h->host_ctx, level, {msg.data(), msg.size()});
  }
  static int64_t now_us() {
    const cm_host_api* h = detail::host_slot();
    return (h && h->now_us) ? h->now_us(h->host_ctx) : 0;
  }
  static void metric_add(std::string_view name, double v) {
    const cm_host_api* h = detail::host_slot();
    if (h && h->metric_add) h->metric_add(h->host_ctx, {name.data(), name.size()}, v);
  }
};

// ---- interfaces: one per plugin kind -------------------------------------------
// Every interface method must be thread-safe. Defaults answer CM_UNSUPPORTED.

class Adapter {
 public:
  virtual ~Adapter() = default;
  /// Used by /ready. Return an error when the backend cannot serve.
  virtual Status health() { return Status::Ok(); }
};

/// Optional mixin for auth, meta and rtdb adapters (ABI 1.1): the portable
/// tenant dump `cumulo tenant migrate` moves between adapters. Items are JSON
/// lines {"t":type,"k":key,"v":value} in the adapter-independent shapes of
/// docs/sdk.md ("Portable tenant dump"). Adapters that do not derive from it
/// report the slots as absent, and migration refuses them with a clear error.
class TenantDump {
 public:
  virtual ~TenantDump() = default;
  /// Writes items with (t, k) after `after` ("" or t + "\n" + k), ascending
  /// by t then k (bytewise), at most `limit` (0 = all), one line each.
  virtual Status export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) = 0;
  /// Upserts each line (an exported item); "v":null deletes the item. Atomic
  /// per call and idempotent.
  virtual Status import_items(const Tenant& tn, std::string_view lines) = 0;
};

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status write(std::string_view bytes) = 0;
  /// Makes the blob visible under `blob_id` atomically.
  virtual Status commit(std::string_view blob_id) = 0;
  /// Called instead of commit; must leave nothing visible.
  virtual void abort() {}
};

class BlobAdapter : public Adapter {
 public:
  static constexpr cm_kind kKind = CM_KIND_BLOB;
  virtual Status open_writer(const Tenant& tn, std::unique_ptr<BlobWriter>& out) = 0;
  /// Streams [offset, offset+length) into `out`; length UINT64_MAX = to end.
  virtual Status read(const Tenant& tn, std::string_view blob_id, uint64_t offset, uint64_t length, const Sink& out) = 0;
  virtual Status stat(const Tenant& tn, std::string_view blob_id, uint64_t& size) = 0;
  virtual Status remove(const Tenant&, std::string_view) { return Status::Unsupported(); }
  virtual Status list(const Tenant&, std::string_view /*after*/, uint32_t /*limit*/, const Sink&) { return Status::Unsupported(); }
};

class AuthAdapter : public Adapter {
 public:
  static constexpr cm_kind kKind = CM_KIND_AUTH;
  virtual Status set_password(const Tenant&, std::string_view) { return Status::Unsupported(); }
  virtual Status check_password(const Tenant&, std::string_view) { return Status::Unsupported(); }
  virtual Status put_secret(const Tenant&, std::string_view /*record_json*/) { return Status::Unsupported(); }
  virtual Status get_secret(const Tenant&, std::string_view /*name*/, const Sink&) { return Status::Unsupported(); }
  virtual Status delete_secret(const Tenant&, std::string_view) { return Status::Unsupported(); }
  virtual Status list_secrets(const Tenant&, std::string_view /*prefix*/, const Sink&) { return Status::Unsupported(); }
  virtual Status create_api_key(const Tenant&, std::string_view /*options_json*/, const Sink&) { return Status::Unsupported(); }
  virtual Status validate_api_key(std::string_view /*key*/, const Sink&) { return Status::Unsupported(); }
  virtual Status delete_api_key(const Tenant&, std::string_view /*key_id*/) { return Status::Unsupported(); }
};

/// Meta adapters derive from MetaAdapter plus any subset of the parts below;
/// the parts they do not derive from are reported to the host as absent.
class MetaAdapter : public Adapter {
 public:
  static constexpr cm_kind kKind = CM_KIND_META;
};

class MetaTenants {
 public:
  virtual ~MetaTenants() = default;
  virtual Status create_tenant(std::string_view tenant_json, const Sink& out) = 0;
  virtual Status get_tenant(const Tenant& tn, const Sink& out) = 0;
  virtual Status update_tenant(const Tenant& tn, std::string_view patch_json) = 0;
  virtual Status delete_tenant(const Tenant& tn) = 0;
  virtual Status list_tenants(std::string_view filter_json, const Sink& out) = 0;
  virtual Status upsert_profile(const Tenant& tn, std::string_view profile_json) = 0;
  virtual Status get_profile(const Tenant& tn, std::string_view id_tag, const Sink& out) = 0;
  virtual Status list_profiles(const Tenant& tn, std::string_view filter_json, const Sink& out) = 0;
  virtual Status put_public_key(std::string_view key_json) = 0;
  virtual Status get_public_key(std::string_view id_tag, std::string_view key_id, const Sink& out) = 0;
};

class MetaActions {
 public:
  virtual ~MetaActions() = default;
  virtual Status put_action(const Tenant& tn, std::string_view action_json, const Sink& out) = 0;
  virtual Status get_action(const Tenant& tn, std::string_view action_id, const Sink& out) = 0;
  virtual Status update_action(const Tenant& tn, std::string_view action_id, std::string_view patch_json) = 0;
  virtual Status list_actions(const Tenant& tn, std::string_view filter_json, const Sink& out) = 0;
  virtual Status push_inbound(const Tenant& tn, std::string_view inbound_json) = 0;
  virtual Status pop_inbound(const Tenant& tn, uint32_t limit, const Sink& out) = 0;
};

class MetaFiles {
 public:
  virtual ~MetaFiles() = default;
  virtual Status put_file(const Tenant& tn, std::string_view file_json, const Sink& out) = 0;
  virtual Status get_file(const Tenant& tn, std::string_view file_id, const Sink& out) = 0;
  virtual Status update_file(const Tenant& tn, std::string_view file_id, std::string_view patch_json) = 0;
  virtual Status list_files(const Tenant& tn, std::string_view filter_json, const Sink& out) = 0;
  virtual Status put_variant(const Tenant& tn, std::string_view variant_json) = 0;
  virtual Status list_variants(const Tenant& tn, std::string_view file_id, const Sink& out) = 0;
};

class MetaTasks {
 public:
  virtual ~MetaTasks() = default;
  virtual Status create_task(std::string_view task_json, const Sink& out) = 0;
  virtual Status update_task(int64_t id, std::string_view patch_json) = 0;
  virtual Status get_task(int64_t id, const Sink& out) = 0;
  virtual Status list_pending_tasks(const Sink& out) = 0;
  virtual Status delete_task(int64_t id) = 0;
};

class MetaSettings {
 public:
  virtual ~MetaSettings() = default;
  virtual Status get_setting(const Tenant& tn, std::string_view key, const Sink& out) = 0;
  virtual Status put_setting(const Tenant& tn, std::string_view key, std::string_view value_json) = 0;
  virtual Status list_settings(const Tenant& tn, std::string_view prefix, const Sink& out) = 0;
  virtual Status delete_setting(const Tenant& tn, std::string_view key) = 0;
};

class MetaRecords {
 public:
  virtual ~MetaRecords() = default;
  virtual Status put_record(const Tenant& tn, std::string_view coll, std::string_view key, std::string_view json) = 0;
  virtual Status get_record(const Tenant& tn, std::string_view coll, std::string_view key, const Sink& out) = 0;
  virtual Status delete_record(const Tenant& tn, std::string_view coll, std::string_view key) = 0;
  virtual Status list_records(const Tenant& tn, std::string_view coll, std::string_view filter_json, const Sink& out) = 0;
};

class RtdbAdapter : public Adapter {
 public:
  static constexpr cm_kind kKind = CM_KIND_RTDB;
  using ChangeFn = cm_rtdb_change_fn;
  virtual Status get(const Tenant& tn, std::string_view db, std::string_view path, const Sink& out) = 0;
  virtual Status query(const Tenant& tn, std::string_view db, std::string_view coll, std::string_view query_json, const Sink& out) = 0;
  virtual Status transact(const Tenant& tn, std::string_view db, std::string_view ops_json, const Sink& out) = 0;
  virtual Status subscribe(const Tenant&, std::string_view, std::string_view, ChangeFn, void*, uint64_t&) { return Status::Unsupported(); }
  virtual void unsubscribe(uint64_t) {}
};

class CrdtAdapter : public Adapter {
 public:
  static constexpr cm_kind kKind = CM_KIND_CRDT;
  using UpdateFn = cm_crdt_update_fn;
  virtual Status append(const Tenant& tn, std::string_view doc, std::string_view update, uint64_t& seq) = 0;
  virtual Status read(const Tenant& tn, std::string_view doc, uint64_t after, UpdateFn fn, void* ctx) = 0;
  virtual Status compact(const Tenant&, std::string_view, uint64_t, std::string_view) { return Status::Unsupported(); }
  virtual Status remove(const Tenant&, std::string_view) { return Status::Unsupported(); }
  virtual Status list(const Tenant&, const Sink&) { return Status::Unsupported(); }
};

class ActionType : public Adapter {
 public:
  static constexpr cm_kind kKind = CM_KIND_ACTION_TYPE;
  /// JSON array of DSL definitions.
  virtual Status definitions(const Sink& out) = 0;
  virtual Status run_hook(const Tenant&, std::string_view /*hook*/, std::string_view /*input_json*/, const Sink&) { return Status::Unsupported(); }
};

class FileProcessor : public Adapter {
 public:
  static constexpr cm_kind kKind = CM_KIND_FILE_PROCESSOR;
  virtual bool accepts(std::string_view content_type) = 0;
  virtual Status probe(std::string_view, std::string_view, const Sink&) { return Status::Unsupported(); }
  virtual Status generate(std::string_view request_json, const Sink& out) = 0;
};

// ---- boundary translation (everything below is machinery) ----------------------

namespace detail {

inline std::string_view sv(cm_str s) { return {s.data ? s.data : "", s.size}; }
inline Tenant tenant(const cm_tenant* t) { return t ? Tenant{t->tn_id, sv(t->id_tag)} : Tenant{}; }

inline int32_t fail(cm_error* err, cm_status code, std::string_view msg) {
  if (err) {
    err->code = code;
    size_t n = msg.size() < CM_ERROR_MESSAGE_MAX - 1 ? msg.size() : CM_ERROR_MESSAGE_MAX - 1;
    std::memcpy(err->message, msg.data(), n);
    err->message[n] = '\0';
  }
  return code;
}

inline int32_t report(cm_error* err, const Status& s) { return s.ok() ? CM_OK : fail(err, s.code, s.message); }

/// Runs `f` (returning Status), converting every exception into an error.
template <class F>
int32_t guard(cm_error* err, F&& f) noexcept {
  try {
    return report(err, f());
  } catch (const Error& e) {
    return fail(err, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return fail(err, CM_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(err, CM_INTERNAL, e.what());
  } catch (...) {
    return fail(err, CM_INTERNAL, "unknown exception in plugin");
  }
}

template <class T>
T* self(void* p) {
  return static_cast<T*>(p);
}

template <class T>
int32_t health(void* s, cm_error* err) {
  return guard(err, [&] { return self<T>(s)->health(); });
}

// The ABI 1.1 dump slots, present only when T derives from TenantDump.
template <class T>
constexpr cm_export_tenant_fn export_slot() {
  if constexpr (std::is_base_of_v<TenantDump, T>) {
    return [](void* s, const cm_tenant* tn, cm_str after, uint32_t limit, const cm_sink* o, cm_error* e) {
      return guard(e, [&] { return self<T>(s)->export_tenant(tenant(tn), sv(after), limit, Sink(o)); });
    };
  } else {
    return nullptr;
  }
}
template <class T>
constexpr cm_import_items_fn import_slot() {
  if constexpr (std::is_base_of_v<TenantDump, T>) {
    return [](void* s, const cm_tenant* tn, cm_str lines, cm_error* e) { return guard(e, [&] { return self<T>(s)->import_items(tenant(tn), sv(lines)); }); };
  } else {
    return nullptr;
  }
}

// Blob writers cross as opaque handles owning the C++ writer.
struct WriterBox {
  std::unique_ptr<BlobWriter> w;
};

template <class T>
struct BlobTable {
  static int32_t open(void* s, const cm_tenant* tn, cm_blob_writer** out, cm_error* err) {
    return guard(err, [&] {
      std::unique_ptr<BlobWriter> w;
      Status st = self<T>(s)->open_writer(tenant(tn), w);
      if (st.ok() && !w) return Status::Error(CM_INTERNAL, "open_writer returned Ok without a writer");
      if (st.ok()) *out = reinterpret_cast<cm_blob_writer*>(new WriterBox{std::move(w)});
      return st;
    });
  }
  static int32_t chunk(void*, cm_blob_writer* w, cm_str b, cm_error* err) {
    return guard(err, [&] { return reinterpret_cast<WriterBox*>(w)->w->write(sv(b)); });
  }
  static int32_t commit(void*, cm_blob_writer* w, cm_str id, cm_error* err) {
    std::unique_ptr<WriterBox> box(reinterpret_cast<WriterBox*>(w));  // consumed either way
    int32_t rc = guard(err, [&] { return box->w->commit(sv(id)); });
    if (rc != CM_OK) {
      try {
        box->w->abort();
      } catch (...) {
      }
    }
    return rc;
  }
  static void abort(void*, cm_blob_writer* w) {
    std::unique_ptr<WriterBox> box(reinterpret_cast<WriterBox*>(w));
    try {
      box->w->abort();
    } catch (...) {
    }
  }
  static int32_t read(void* s, const cm_tenant* tn, cm_str id, uint64_t off, uint64_t len, const cm_sink* out, cm_error* err) {
    return guard(err, [&] { return self<T>(s)->read(tenant(tn), sv(id), off, len, Sink(out)); });
  }
  static int32_t stat(void* s, const cm_tenant* tn, cm_str id, cm_blob_stat* out, cm_error* err) {
    return guard(err, [&] {
      uint64_t size = 0;
      Status st = self<T>(s)->stat(tenant(tn), sv(id), size);
      if (st.ok()) out->size = size;
      return st;
    });
  }
  static int32_t remove(void* s, const cm_tenant* tn, cm_str id, cm_error* err) {
    return guard(err, [&] { return self<T>(s)->remove(tenant(tn), sv(id)); });
  }
  static int32_t list(void* s, const cm_tenant* tn, cm_str after, uint32_t limit, const cm_sink* out, cm_error* err) {
    return guard(err, [&] { return self<T>(s)->list(tenant(tn), sv(after), limit, Sink(out)); });
  }
  static const cm_blob_vtable* table() {
    static const cm_blob_vtable t = {sizeof(cm_blob_vtable), &health<T>, &open, &chunk, &commit, &abort, &read, &stat, &remove, &list};
    return &t;
  }
};

template <class T>
struct AuthTable {
  static int32_t set_pw(void* s, const cm_tenant* tn, cm_str pw, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->set_password(tenant(tn), sv(pw)); });
  }
  static int32_t check_pw(void* s, const cm_tenant* tn, cm_str pw, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->check_password(tenant(tn), sv(pw)); });
  }
  static int32_t put(void* s, const cm_tenant* tn, cm_str j, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->put_secret(tenant(tn), sv(j)); });
  }
  static int32_t get(void* s, const cm_tenant* tn, cm_str n, const cm_sink* o, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->get_secret(tenant(tn), sv(n), Sink(o)); });
  }
  static int32_t del(void* s, const cm_tenant* tn, cm_str n, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->delete_secret(tenant(tn), sv(n)); });
  }
  static int32_t list(void* s, const cm_tenant* tn, cm_str p, const cm_sink* o, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->list_secrets(tenant(tn), sv(p), Sink(o)); });
  }
  static int32_t mk_key(void* s, const cm_tenant* tn, cm_str j, const cm_sink* o, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->create_api_key(tenant(tn), sv(j), Sink(o)); });
  }
  static int32_t val_key(void* s, cm_str k, const cm_sink* o, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->validate_api_key(sv(k), Sink(o)); });
  }
  static int32_t del_key(void* s, const cm_tenant* tn, cm_str k, cm_error* e) {
    return guard(e, [&] { return self<T>(s)->delete_api_key(tenant(tn), sv(k)); });
  }
  static const cm_auth_vtable* table() {
    static const cm_auth_vtable t = {sizeof(cm_auth_vtable), &health<T>, &set_pw, &check_pw, &put, &get, &del, &list, &mk_key, &val_key, &del_key, export_slot<T>(), import_slot<T>()};
    return &t;
  }
};

// Meta parts: each is exposed only when T derives from that part.
template <class T>
struct MetaTable {
  static const cm_meta_tenants* tenants() {
    if constexpr (std::is_base_of_v<MetaTenants, T>) {
      static const cm_meta_tenants t = {
          sizeof(cm_meta_tenants),
          [](void* s, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->create_tenant(sv(j), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_tenant(tenant(tn), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->update_tenant(tenant(tn), sv(j)); }); },
          [](void* s, const cm_tenant* tn, cm_error* e) { return guard(e, [&] { return self<T>(s)->delete_tenant(tenant(tn)); }); },
          [](void* s, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_tenants(sv(j), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->upsert_profile(tenant(tn), sv(j)); }); },
          [](void* s, const cm_tenant* tn, cm_str id, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_profile(tenant(tn), sv(id), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_profiles(tenant(tn), sv(j), Sink(o)); }); },
          [](void* s, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->put_public_key(sv(j)); }); },
          [](void* s, cm_str id, cm_str k, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_public_key(sv(id), sv(k), Sink(o)); }); },
      };
      return &t;
    }
    return nullptr;
  }
  static const cm_meta_actions* actions() {
    if constexpr (std::is_base_of_v<MetaActions, T>) {
      static const cm_meta_actions t = {
          sizeof(cm_meta_actions),
          [](void* s, const cm_tenant* tn, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->put_action(tenant(tn), sv(j), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str id, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_action(tenant(tn), sv(id), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str id, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->update_action(tenant(tn), sv(id), sv(j)); }); },
          [](void* s, const cm_tenant* tn, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_actions(tenant(tn), sv(j), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->push_inbound(tenant(tn), sv(j)); }); },
          [](void* s, const cm_tenant* tn, uint32_t n, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->pop_inbound(tenant(tn), n, Sink(o)); }); },
      };
      return &t;
    }
    return nullptr;
  }
  static const cm_meta_files* files() {
    if constexpr (std::is_base_of_v<MetaFiles, T>) {
      static const cm_meta_files t = {
          sizeof(cm_meta_files),
          [](void* s, const cm_tenant* tn, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->put_file(tenant(tn), sv(j), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str id, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_file(tenant(tn), sv(id), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str id, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->update_file(tenant(tn), sv(id), sv(j)); }); },
          [](void* s, const cm_tenant* tn, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_files(tenant(tn), sv(j), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->put_variant(tenant(tn), sv(j)); }); },
          [](void* s, const cm_tenant* tn, cm_str id, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_variants(tenant(tn), sv(id), Sink(o)); }); },
      };
      return &t;
    }
    return nullptr;
  }
  static const cm_meta_tasks* tasks() {
    if constexpr (std::is_base_of_v<MetaTasks, T>) {
      static const cm_meta_tasks t = {
          sizeof(cm_meta_tasks),
          [](void* s, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->create_task(sv(j), Sink(o)); }); },
          [](void* s, int64_t id, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->update_task(id, sv(j)); }); },
          [](void* s, int64_t id, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_task(id, Sink(o)); }); },
          [](void* s, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_pending_tasks(Sink(o)); }); },
          [](void* s, int64_t id, cm_error* e) { return guard(e, [&] { return self<T>(s)->delete_task(id); }); },
      };
      return &t;
    }
    return nullptr;
  }
  static const cm_meta_settings* settings() {
    if constexpr (std::is_base_of_v<MetaSettings, T>) {
      static const cm_meta_settings t = {
          sizeof(cm_meta_settings),
          [](void* s, const cm_tenant* tn, cm_str k, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_setting(tenant(tn), sv(k), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str k, cm_str v, cm_error* e) { return guard(e, [&] { return self<T>(s)->put_setting(tenant(tn), sv(k), sv(v)); }); },
          [](void* s, const cm_tenant* tn, cm_str p, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_settings(tenant(tn), sv(p), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str k, cm_error* e) { return guard(e, [&] { return self<T>(s)->delete_setting(tenant(tn), sv(k)); }); },
      };
      return &t;
    }
    return nullptr;
  }
  static const cm_meta_records* records() {
    if constexpr (std::is_base_of_v<MetaRecords, T>) {
      static const cm_meta_records t = {
          sizeof(cm_meta_records),
          [](void* s, const cm_tenant* tn, cm_str c, cm_str k, cm_str j, cm_error* e) { return guard(e, [&] { return self<T>(s)->put_record(tenant(tn), sv(c), sv(k), sv(j)); }); },
          [](void* s, const cm_tenant* tn, cm_str c, cm_str k, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get_record(tenant(tn), sv(c), sv(k), Sink(o)); }); },
          [](void* s, const cm_tenant* tn, cm_str c, cm_str k, cm_error* e) { return guard(e, [&] { return self<T>(s)->delete_record(tenant(tn), sv(c), sv(k)); }); },
          [](void* s, const cm_tenant* tn, cm_str c, cm_str j, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list_records(tenant(tn), sv(c), sv(j), Sink(o)); }); },
      };
      return &t;
    }
    return nullptr;
  }
  static const cm_meta_vtable* table() {
    static const cm_meta_vtable t = {sizeof(cm_meta_vtable), &health<T>, tenants(), actions(), files(), tasks(), settings(), records(), export_slot<T>(), import_slot<T>()};
    return &t;
  }
};

template <class T>
struct RtdbTable {
  static const cm_rtdb_vtable* table() {
    static const cm_rtdb_vtable t = {
        sizeof(cm_rtdb_vtable),
        &health<T>,
        [](void* s, const cm_tenant* tn, cm_str db, cm_str p, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->get(tenant(tn), sv(db), sv(p), Sink(o)); }); },
        [](void* s, const cm_tenant* tn, cm_str db, cm_str c, cm_str q, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->query(tenant(tn), sv(db), sv(c), sv(q), Sink(o)); }); },
        [](void* s, const cm_tenant* tn, cm_str db, cm_str ops, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->transact(tenant(tn), sv(db), sv(ops), Sink(o)); }); },
        [](void* s, const cm_tenant* tn, cm_str db, cm_str p, cm_rtdb_change_fn fn, void* ctx, uint64_t* id, cm_error* e) { return guard(e, [&] { return self<T>(s)->subscribe(tenant(tn), sv(db), sv(p), fn, ctx, *id); }); },
        [](void* s, uint64_t id) {
          try {
            self<T>(s)->unsubscribe(id);
          } catch (...) {
          }
        },
        export_slot<T>(),
        import_slot<T>(),
    };
    return &t;
  }
};

template <class T>
struct CrdtTable {
  static const cm_crdt_vtable* table() {
    static const cm_crdt_vtable t = {
        sizeof(cm_crdt_vtable),
        &health<T>,
        [](void* s, const cm_tenant* tn, cm_str d, cm_str u, uint64_t* seq, cm_error* e) { return guard(e, [&] { return self<T>(s)->append(tenant(tn), sv(d), sv(u), *seq); }); },
        [](void* s, const cm_tenant* tn, cm_str d, uint64_t after, cm_crdt_update_fn fn, void* ctx, cm_error* e) { return guard(e, [&] { return self<T>(s)->read(tenant(tn), sv(d), after, fn, ctx); }); },
        [](void* s, const cm_tenant* tn, cm_str d, uint64_t upto, cm_str m, cm_error* e) { return guard(e, [&] { return self<T>(s)->compact(tenant(tn), sv(d), upto, sv(m)); }); },
        [](void* s, const cm_tenant* tn, cm_str d, cm_error* e) { return guard(e, [&] { return self<T>(s)->remove(tenant(tn), sv(d)); }); },
        [](void* s, const cm_tenant* tn, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->list(tenant(tn), Sink(o)); }); },
    };
    return &t;
  }
};

template <class T>
struct ActionTypeTable {
  static const cm_action_type_vtable* table() {
    static const cm_action_type_vtable t = {
        sizeof(cm_action_type_vtable),
        &health<T>,
        [](void* s, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->definitions(Sink(o)); }); },
        [](void* s, const cm_tenant* tn, cm_str h, cm_str in, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->run_hook(tenant(tn), sv(h), sv(in), Sink(o)); }); },
    };
    return &t;
  }
};

template <class T>
struct FileProcessorTable {
  static const cm_file_processor_vtable* table() {
    static const cm_file_processor_vtable t = {
        sizeof(cm_file_processor_vtable),
        &health<T>,
        [](void* s, cm_str ct) -> int32_t {
          try {
            return self<T>(s)->accepts(sv(ct)) ? 1 : 0;
          } catch (...) {
            return 0;
          }
        },
        [](void* s, cm_str p, cm_str ct, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->probe(sv(p), sv(ct), Sink(o)); }); },
        [](void* s, cm_str r, const cm_sink* o, cm_error* e) { return guard(e, [&] { return self<T>(s)->generate(sv(r), Sink(o)); }); },
    };
    return &t;
  }
};

template <class T>
std::pair<const void*, size_t> vtable_for() {
  if constexpr (std::is_base_of_v<BlobAdapter, T>) return {BlobTable<T>::table(), sizeof(cm_blob_vtable)};
  else if constexpr (std::is_base_of_v<AuthAdapter, T>) return {AuthTable<T>::table(), sizeof(cm_auth_vtable)};
  else if constexpr (std::is_base_of_v<MetaAdapter, T>) return {MetaTable<T>::table(), sizeof(cm_meta_vtable)};
  else if constexpr (std::is_base_of_v<RtdbAdapter, T>) return {RtdbTable<T>::table(), sizeof(cm_rtdb_vtable)};
  else if constexpr (std::is_base_of_v<CrdtAdapter, T>) return {CrdtTable<T>::table(), sizeof(cm_crdt_vtable)};
  else if constexpr (std::is_base_of_v<ActionType, T>) return {ActionTypeTable<T>::table(), sizeof(cm_action_type_vtable)};
  else if constexpr (std::is_base_of_v<FileProcessor, T>) return {FileProcessorTable<T>::table(), sizeof(cm_file_processor_vtable)};
  else static_assert(sizeof(T) == 0, "T must derive from one cumulo::sdk interface");
}

}  // namespace detail

/// Passed to the CUMULO_PLUGIN body. `add<T>(name)` registers a factory that
/// constructs `T(std::string_view options_json)` per tenant/backend profile.
class Registrar {
 public:
  Registrar(const cm_registrar* r, cm_error* err) : r_(r), err_(err) {}

  template <class T>
  void add(const char* name, const char* options_schema = "") {
    static_assert(std::is_constructible_v<T, std::string_view>, "T needs a constructor T(std::string_view options_json)");
    auto [vt, vt_size] = detail::vtable_for<T>();
    cm_factory f{};
    f.struct_size = sizeof f;
    f.kind = T::kKind;
    f.name = {name, std::strlen(name)};
    f.create = [](cm_str opts, void** out, cm_error* err) -> int32_t {
      return detail::guard(err, [&] {
        *out = static_cast<void*>(new T(detail::sv(opts)));
        return Status::Ok();
      });
    };
    f.destroy = [](void* p) { delete static_cast<T*>(p); };
    f.vtable = vt;
    f.vtable_size = vt_size;
    f.options_schema = {options_schema, std::strlen(options_schema)};
    if (r_->register_factory(r_->ctx, &f, err_) != CM_OK) throw Error(static_cast<cm_status>(err_->code), err_->message);
  }

 private:
  const cm_registrar* r_;
  cm_error* err_;
};

}  // namespace cumulo::sdk

#define CUMULO_SDK_STR2(x) #x
#define CUMULO_SDK_STR(x) CUMULO_SDK_STR2(x)
#if defined(__clang__)
#define CUMULO_SDK_COMPILER "clang " CUMULO_SDK_STR(__clang_major__) "." CUMULO_SDK_STR(__clang_minor__) "." CUMULO_SDK_STR(__clang_patchlevel__)
#elif defined(__GNUC__)
#define CUMULO_SDK_COMPILER "gcc " __VERSION__
#else
#define CUMULO_SDK_COMPILER "unknown"
#endif
#if defined(_LIBCPP_VERSION)
#define CUMULO_SDK_STDLIB " libc++ " CUMULO_SDK_STR(_LIBCPP_VERSION)
#elif defined(__GLIBCXX__)
#define CUMULO_SDK_STDLIB " libstdc++ " CUMULO_SDK_STR(__GLIBCXX__)
#else
#define CUMULO_SDK_STDLIB ""
#endif

/// Declares the plugin: name ([a-z0-9-]+), version, description, kinds (OR of
/// cm_kind). The braces that follow are the body of init, with `reg` in scope.
/// Exports exactly one symbol and writes the pre-load note section.
#define CUMULO_PLUGIN(NAME, VERSION, DESCRIPTION, KINDS)                                                           \
  static void cumulo_plugin_register_(::cumulo::sdk::Registrar& reg);                                              \
  const cm_host_api*& ::cumulo::sdk::detail::host_slot() {                                                         \
    static const cm_host_api* h = nullptr;                                                                         \
    return h;                                                                                                      \
  }                                                                                                                \
  __attribute__((used, section(CM_NOTE_SECTION))) static const cm_plugin_note cumulo_plugin_note_ = {          \
      CM_PLUGIN_MAGIC, CM_ABI_MAJOR, CM_ABI_MINOR, (KINDS), 0, NAME, VERSION};                                     \
  static int32_t cumulo_plugin_init_(const cm_host_api* host, const cm_registrar* r, cm_error* err) {              \
    ::cumulo::sdk::detail::host_slot() = host;                                                                     \
    return ::cumulo::sdk::detail::guard(err, [&] {                                                                 \
      ::cumulo::sdk::Registrar reg(r, err);                                                                        \
      cumulo_plugin_register_(reg);                                                                                \
      return ::cumulo::sdk::Status::Ok();                                                                          \
    });                                                                                                            \
  }                                                                                                                \
  extern "C" __attribute__((visibility("default"))) const cm_plugin_info* cumulo_plugin_entry(void) {              \
    static const cm_plugin_info info = {sizeof(cm_plugin_info),                                                    \
                                        CM_PLUGIN_MAGIC,                                                           \
                                        CM_ABI_MAJOR,                                                              \
                                        CM_ABI_MINOR,                                                              \
                                        (KINDS),                                                                   \
                                        NAME,                                                                      \
                                        VERSION,                                                                   \
                                        CUMULO_SDK_COMPILER CUMULO_SDK_STDLIB,                                     \
                                        DESCRIPTION,                                                               \
                                        &cumulo_plugin_init_,                                                      \
                                        nullptr};                                                                  \
    return &info;                                                                                                  \
  }                                                                                                                \
  static void cumulo_plugin_register_(::cumulo::sdk::Registrar& reg)
