#include "plugins/adapters.hpp"

#include <atomic>

#include "plugins/meta_epoch.hpp"

namespace cumulo::plugins {

namespace {
std::atomic<uint64_t> g_meta_epoch{0};
// Bumps the epoch when the write returns or throws (a failed write may have
// applied part of it).
struct CachedMetaWrite {
  CachedMetaWrite() = default;
  CachedMetaWrite(const CachedMetaWrite&) = delete;
  CachedMetaWrite& operator=(const CachedMetaWrite&) = delete;
  ~CachedMetaWrite() { bump_meta_epoch(); }
};
}  // namespace
uint64_t meta_epoch() noexcept { return g_meta_epoch.load(std::memory_order_acquire); }
void bump_meta_epoch() noexcept { g_meta_epoch.fetch_add(1, std::memory_order_acq_rel); }

cm_error new_error() {
  // Only the header is initialised: zeroing the 480-byte message on every
  // call would cost more than the call itself; plugins write a terminated string.
  cm_error e;
  e.struct_size = sizeof e;
  e.code = CM_OK;
  e.message[0] = '\0';
  return e;
}

void check(int32_t st, const cm_error& err, std::string_view what) {
  if (st == CM_OK) return;
  std::string msg(what);
  msg += ": ";
  msg += err.message[0] ? err.message : "plugin returned an error without a message";
  auto code = (st >= CM_OK && st <= CM_INTERNAL) ? static_cast<cm_status>(st) : CM_INTERNAL;
  throw PluginError(code, msg);
}

void unsupported(std::string_view what) { throw PluginError(CM_UNSUPPORTED, std::string(what) + ": not provided by this adapter"); }

// Runs one slot call with a fresh error slot; throws on failure.
#define CM_CALL(slot, what, ...)                   \
  do {                                             \
    if (!(slot)) unsupported(what);                \
    cm_error err_ = new_error();                   \
    check((slot)(__VA_ARGS__, &err_), err_, what); \
  } while (0)

void AdapterHandle::health() const {
  cm_health_fn fn = nullptr;
  switch (f().kind) {
    case CM_KIND_BLOB:
      fn = f().vt.blob.health;
      break;
    case CM_KIND_AUTH:
      fn = f().vt.auth.health;
      break;
    case CM_KIND_META:
      fn = f().vt.meta.health;
      break;
    case CM_KIND_RTDB:
      fn = f().vt.rtdb.health;
      break;
    case CM_KIND_CRDT:
      fn = f().vt.crdt.health;
      break;
    case CM_KIND_ACTION_TYPE:
      fn = f().vt.action.health;
      break;
    case CM_KIND_FILE_PROCESSOR:
      fn = f().vt.processor.health;
      break;
  }
  if (!fn) return;
  cm_error err = new_error();
  check(fn(self(), &err), err, "health");
}

std::string AdapterHandle::describe() const {
  return kind_name(f().kind) + " adapter " + f().name + " (plugin " + inst_->plugin().name + " " + inst_->plugin().version + ")";
}

namespace {
// The dump slots of a kind's table (both NULL for kinds without them).
std::pair<cm_export_tenant_fn, cm_import_items_fn> dump_slots(const Factory& f) {
  switch (f.kind) {
    case CM_KIND_AUTH:
      return {f.vt.auth.export_tenant, f.vt.auth.import_items};
    case CM_KIND_META:
      return {f.vt.meta.export_tenant, f.vt.meta.import_items};
    case CM_KIND_RTDB:
      return {f.vt.rtdb.export_tenant, f.vt.rtdb.import_items};
    default:
      return {nullptr, nullptr};
  }
}
}  // namespace

bool AdapterHandle::has_dump() const {
  auto [ex, im] = dump_slots(f());
  return ex && im;
}

void AdapterHandle::require_dump() const {
  if (!has_dump())
    throw PluginError(CM_UNSUPPORTED,
                      describe() + " does not implement the portable tenant dump (ABI 1.1 export_tenant/import_items), so its data cannot be migrated");
}

bool AdapterHandle::export_tenant(const TenantRef& tn, std::string_view after, uint32_t limit, const std::function<bool(std::string_view)>& out) const {
  require_dump();
  bool stopped = false;
  CallbackSink sink{[&](std::string_view chunk) {
                      if (!stopped && !out(chunk)) stopped = true;
                      return !stopped;
                    },
                    nullptr};
  auto ct = tn.c();
  cm_error err = new_error();
  int32_t st = dump_slots(f()).first(self(), &ct, to_cm(after), limit, &sink.sink, &err);
  sink.rethrow();
  if (stopped) return false;  // the adapter's CM_UNAVAILABLE answers our own request
  check(st, err, "export_tenant");
  return true;
}

void AdapterHandle::import_items(const TenantRef& tn, std::string_view lines) const {
  require_dump();
  auto ct = tn.c();
  const CachedMetaWrite cached_write;  // an import may carry settings and profiles
  CM_CALL(dump_slots(f()).second, "import_items", self(), &ct, to_cm(lines));
}

// ---- blob -------------------------------------------------------------------------

void BlobHandle::write(const TenantRef& tn, std::string_view blob_id, const std::function<std::string_view()>& chunks) const {
  const auto& v = f().vt.blob;
  auto ct = tn.c();
  cm_blob_writer* w = nullptr;
  CM_CALL(v.write_open, "blob write_open", self(), &ct, &w);
  try {
    for (std::string_view c = chunks(); !c.empty(); c = chunks()) CM_CALL(v.write_chunk, "blob write", self(), w, to_cm(c));
  } catch (...) {
    v.write_abort(self(), w);
    throw;
  }
  // commit consumes the writer whether it succeeds or not.
  CM_CALL(v.write_commit, "blob commit", self(), w, to_cm(blob_id));
}

void BlobHandle::write_all(const TenantRef& tn, std::string_view blob_id, std::string_view bytes) const {
  bool sent = false;
  write(tn, blob_id, [&]() -> std::string_view {
    if (sent) return {};
    sent = true;
    return bytes;
  });
}

void BlobHandle::read(const TenantRef& tn, std::string_view blob_id, uint64_t offset, uint64_t length, const std::function<bool(std::string_view)>& out) const {
  CallbackSink sink{out, nullptr};
  auto ct = tn.c();
  if (!f().vt.blob.read) unsupported("blob read");
  cm_error err = new_error();
  int32_t st = f().vt.blob.read(self(), &ct, to_cm(blob_id), offset, length, &sink.sink, &err);
  sink.rethrow();  // the host's own failure wins over the plugin's "stopped"
  check(st, err, "blob read");
}

std::string BlobHandle::read_all(const TenantRef& tn, std::string_view blob_id) const {
  std::string out;
  read(tn, blob_id, 0, UINT64_MAX, [&](std::string_view c) {
    out.append(c);
    return true;
  });
  return out;
}

uint64_t BlobHandle::size(const TenantRef& tn, std::string_view blob_id) const {
  cm_blob_stat st{sizeof(cm_blob_stat), 0};
  auto ct = tn.c();
  CM_CALL(f().vt.blob.stat, "blob stat", self(), &ct, to_cm(blob_id), &st);
  return st.size;
}

void BlobHandle::remove(const TenantRef& tn, std::string_view blob_id) const {
  auto ct = tn.c();
  CM_CALL(f().vt.blob.remove, "blob remove", self(), &ct, to_cm(blob_id));
}

std::string BlobHandle::list(const TenantRef& tn, std::string_view after, uint32_t limit) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.blob.list, "blob list", self(), &ct, to_cm(after), limit, &s.sink);
  return s.data;
}

// ---- auth -------------------------------------------------------------------------

void AuthHandle::set_password(const TenantRef& tn, std::string_view pw) const {
  auto ct = tn.c();
  CM_CALL(f().vt.auth.set_password, "auth set_password", self(), &ct, to_cm(pw));
}

bool AuthHandle::check_password(const TenantRef& tn, std::string_view pw) const {
  const auto& v = f().vt.auth;
  if (!v.check_password) unsupported("auth check_password");
  auto ct = tn.c();
  cm_error err = new_error();
  int32_t st = v.check_password(self(), &ct, to_cm(pw), &err);
  if (st == CM_PERMISSION) return false;
  check(st, err, "auth check_password");
  return true;
}

void AuthHandle::put_secret(const TenantRef& tn, std::string_view record_json) const {
  auto ct = tn.c();
  CM_CALL(f().vt.auth.put_secret, "auth put_secret", self(), &ct, to_cm(record_json));
}

std::string AuthHandle::get_secret(const TenantRef& tn, std::string_view name) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.auth.get_secret, "auth get_secret", self(), &ct, to_cm(name), &s.sink);
  return s.data;
}

std::string AuthHandle::find_secret(const TenantRef& tn, std::string_view name) const {
  const auto& v = f().vt.auth;
  if (!v.get_secret) unsupported("auth get_secret");
  StringSink s;
  auto ct = tn.c();
  cm_error err = new_error();
  int32_t st = v.get_secret(self(), &ct, to_cm(name), &s.sink, &err);
  if (st == CM_NOT_FOUND) return {};
  check(st, err, "auth get_secret");
  return s.data;
}

void AuthHandle::delete_secret(const TenantRef& tn, std::string_view name) const {
  auto ct = tn.c();
  CM_CALL(f().vt.auth.delete_secret, "auth delete_secret", self(), &ct, to_cm(name));
}

std::string AuthHandle::list_secrets(const TenantRef& tn, std::string_view prefix) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.auth.list_secrets, "auth list_secrets", self(), &ct, to_cm(prefix), &s.sink);
  return s.data;
}

std::string AuthHandle::create_api_key(const TenantRef& tn, std::string_view options_json) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.auth.create_api_key, "auth create_api_key", self(), &ct, to_cm(options_json), &s.sink);
  return s.data;
}

std::string AuthHandle::validate_api_key(std::string_view key) const {
  const auto& v = f().vt.auth;
  if (!v.validate_api_key) unsupported("auth validate_api_key");
  StringSink s;
  cm_error err = new_error();
  int32_t st = v.validate_api_key(self(), to_cm(key), &s.sink, &err);
  if (st == CM_NOT_FOUND || st == CM_PERMISSION) return {};
  check(st, err, "auth validate_api_key");
  return s.data;
}

void AuthHandle::delete_api_key(const TenantRef& tn, std::string_view key_id) const {
  auto ct = tn.c();
  CM_CALL(f().vt.auth.delete_api_key, "auth delete_api_key", self(), &ct, to_cm(key_id));
}

// ---- meta -------------------------------------------------------------------------

namespace {
const cm_meta_tenants& tenants_of(const cm_meta_vtable& v) {
  if (!v.tenants) unsupported("meta tenants part");
  return *v.tenants;
}
const cm_meta_actions& actions_of(const cm_meta_vtable& v) {
  if (!v.actions) unsupported("meta actions part");
  return *v.actions;
}
const cm_meta_tasks& tasks_of(const cm_meta_vtable& v) {
  if (!v.tasks) unsupported("meta tasks part");
  return *v.tasks;
}
const cm_meta_settings& settings_of(const cm_meta_vtable& v) {
  if (!v.settings) unsupported("meta settings part");
  return *v.settings;
}
const cm_meta_records& records_of(const cm_meta_vtable& v) {
  if (!v.records) unsupported("meta records part");
  return *v.records;
}
}  // namespace

// Calls a slot whose CM_NOT_FOUND means "absent": returns "" instead of throwing.
#define CM_FIND(slot, what, ...)                        \
  do {                                                  \
    if (!(slot)) unsupported(what);                     \
    StringSink s_;                                      \
    cm_error err_ = new_error();                        \
    int32_t st_ = (slot)(__VA_ARGS__, &s_.sink, &err_); \
    if (st_ == CM_NOT_FOUND) return {};                 \
    check(st_, err_, what);                             \
    return s_.data;                                     \
  } while (0)

std::string MetaHandle::create_tenant(std::string_view tenant_json) const {
  const CachedMetaWrite cached_write;
  StringSink s;
  CM_CALL(tenants_of(vt()).create_tenant, "meta create_tenant", self(), to_cm(tenant_json), &s.sink);
  return s.data;
}

std::string MetaHandle::get_tenant(const TenantRef& tn) const {
  auto ct = tn.c();
  CM_FIND(tenants_of(vt()).get_tenant, "meta get_tenant", self(), &ct);
}

void MetaHandle::update_tenant(const TenantRef& tn, std::string_view patch_json) const {
  const CachedMetaWrite cached_write;
  auto ct = tn.c();
  CM_CALL(tenants_of(vt()).update_tenant, "meta update_tenant", self(), &ct, to_cm(patch_json));
}

std::string MetaHandle::list_tenants(std::string_view filter_json) const {
  StringSink s;
  CM_CALL(tenants_of(vt()).list_tenants, "meta list_tenants", self(), to_cm(filter_json), &s.sink);
  return s.data;
}

void MetaHandle::upsert_profile(const TenantRef& tn, std::string_view profile_json) const {
  const CachedMetaWrite cached_write;
  auto ct = tn.c();
  CM_CALL(tenants_of(vt()).upsert_profile, "meta upsert_profile", self(), &ct, to_cm(profile_json));
}

std::string MetaHandle::get_profile(const TenantRef& tn, std::string_view id_tag) const {
  auto ct = tn.c();
  CM_FIND(tenants_of(vt()).get_profile, "meta get_profile", self(), &ct, to_cm(id_tag));
}

std::string MetaHandle::list_profiles(const TenantRef& tn, std::string_view filter_json) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(tenants_of(vt()).list_profiles, "meta list_profiles", self(), &ct, to_cm(filter_json), &s.sink);
  return s.data;
}

void MetaHandle::put_public_key(std::string_view key_json) const { CM_CALL(tenants_of(vt()).put_public_key, "meta put_public_key", self(), to_cm(key_json)); }

std::string MetaHandle::get_public_key(std::string_view id_tag, std::string_view key_id) const {
  CM_FIND(tenants_of(vt()).get_public_key, "meta get_public_key", self(), to_cm(id_tag), to_cm(key_id));
}

std::string MetaHandle::list_actions(const TenantRef& tn, std::string_view filter_json) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(actions_of(vt()).list_actions, "meta list_actions", self(), &ct, to_cm(filter_json), &s.sink);
  return s.data;
}

std::string MetaHandle::put_action(const TenantRef& tn, std::string_view action_json) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(actions_of(vt()).put_action, "meta put_action", self(), &ct, to_cm(action_json), &s.sink);
  return s.data;
}

std::string MetaHandle::get_action(const TenantRef& tn, std::string_view action_id) const {
  auto ct = tn.c();
  CM_FIND(actions_of(vt()).get_action, "meta get_action", self(), &ct, to_cm(action_id));
}

void MetaHandle::update_action(const TenantRef& tn, std::string_view action_id, std::string_view patch_json) const {
  auto ct = tn.c();
  CM_CALL(actions_of(vt()).update_action, "meta update_action", self(), &ct, to_cm(action_id), to_cm(patch_json));
}

std::string MetaHandle::list_settings(const TenantRef& tn, std::string_view prefix) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(settings_of(vt()).list_settings, "meta list_settings", self(), &ct, to_cm(prefix), &s.sink);
  return s.data;
}

std::string MetaHandle::find_record(const TenantRef& tn, std::string_view coll, std::string_view key) const {
  auto ct = tn.c();
  CM_FIND(records_of(vt()).get_record, "meta get_record", self(), &ct, to_cm(coll), to_cm(key));
}

std::string MetaHandle::list_records(const TenantRef& tn, std::string_view coll, std::string_view filter_json) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(records_of(vt()).list_records, "meta list_records", self(), &ct, to_cm(coll), to_cm(filter_json), &s.sink);
  return s.data;
}

std::string MetaHandle::create_task(std::string_view json) const {
  StringSink s;
  CM_CALL(tasks_of(vt()).create_task, "meta create_task", self(), to_cm(json), &s.sink);
  return s.data;
}

void MetaHandle::update_task(int64_t id, std::string_view patch) const { CM_CALL(tasks_of(vt()).update_task, "meta update_task", self(), id, to_cm(patch)); }

std::string MetaHandle::get_task(int64_t id) const {
  const auto& t = tasks_of(vt());
  StringSink s;
  cm_error err = new_error();
  int32_t st = t.get_task(self(), id, &s.sink, &err);
  if (st == CM_NOT_FOUND) return {};
  check(st, err, "meta get_task");
  return s.data;
}

std::string MetaHandle::list_pending_tasks() const {
  StringSink s;
  CM_CALL(tasks_of(vt()).list_pending_tasks, "meta list_pending_tasks", self(), &s.sink);
  return s.data;
}

void MetaHandle::delete_task(int64_t id) const { CM_CALL(tasks_of(vt()).delete_task, "meta delete_task", self(), id); }

void MetaHandle::put_setting(const TenantRef& tn, std::string_view key, std::string_view value_json) const {
  auto ct = tn.c();
  const CachedMetaWrite cached_write;
  CM_CALL(settings_of(vt()).put_setting, "meta put_setting", self(), &ct, to_cm(key), to_cm(value_json));
}

std::string MetaHandle::get_setting(const TenantRef& tn, std::string_view key) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(settings_of(vt()).get_setting, "meta get_setting", self(), &ct, to_cm(key), &s.sink);
  return s.data;
}

void MetaHandle::delete_setting(const TenantRef& tn, std::string_view key) const {
  auto ct = tn.c();
  const CachedMetaWrite cached_write;
  CM_CALL(settings_of(vt()).delete_setting, "meta delete_setting", self(), &ct, to_cm(key));
}

void MetaHandle::delete_record(const TenantRef& tn, std::string_view coll, std::string_view key) const {
  auto ct = tn.c();
  CM_CALL(records_of(vt()).delete_record, "meta delete_record", self(), &ct, to_cm(coll), to_cm(key));
}

void MetaHandle::put_record(const TenantRef& tn, std::string_view coll, std::string_view key, std::string_view json) const {
  auto ct = tn.c();
  CM_CALL(records_of(vt()).put_record, "meta put_record", self(), &ct, to_cm(coll), to_cm(key), to_cm(json));
}

std::string MetaHandle::get_record(const TenantRef& tn, std::string_view coll, std::string_view key) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(records_of(vt()).get_record, "meta get_record", self(), &ct, to_cm(coll), to_cm(key), &s.sink);
  return s.data;
}

// ---- rtdb / crdt ------------------------------------------------------------------

std::string RtdbHandle::transact(const TenantRef& tn, std::string_view db, std::string_view ops_json) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.rtdb.transact, "rtdb transact", self(), &ct, to_cm(db), to_cm(ops_json), &s.sink);
  return s.data;
}

std::string RtdbHandle::get(const TenantRef& tn, std::string_view db, std::string_view path) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.rtdb.get, "rtdb get", self(), &ct, to_cm(db), to_cm(path), &s.sink);
  return s.data;
}

std::string RtdbHandle::query(const TenantRef& tn, std::string_view db, std::string_view coll, std::string_view q) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.rtdb.query, "rtdb query", self(), &ct, to_cm(db), to_cm(coll), to_cm(q), &s.sink);
  return s.data;
}

uint64_t CrdtHandle::append(const TenantRef& tn, std::string_view doc, std::string_view update) const {
  uint64_t seq = 0;
  auto ct = tn.c();
  CM_CALL(f().vt.crdt.append, "crdt append", self(), &ct, to_cm(doc), to_cm(update), &seq);
  return seq;
}

void CrdtHandle::read(const TenantRef& tn, std::string_view doc, uint64_t after, const std::function<void(uint64_t, std::string_view)>& fn) const {
  struct Ctx {
    const std::function<void(uint64_t, std::string_view)>* fn;
    std::exception_ptr error;
  } ctx{&fn, nullptr};
  // Never let an exception unwind through the plugin: park it, ask to stop.
  auto cb = [](void* c, uint64_t seq, cm_str u) -> int {
    auto* x = static_cast<Ctx*>(c);
    try {
      (*x->fn)(seq, std::string_view(u.data ? u.data : "", u.size));
      return 0;
    } catch (...) {
      x->error = std::current_exception();
      return 1;
    }
  };
  auto ct = tn.c();
  if (!f().vt.crdt.read) unsupported("crdt read");
  cm_error err = new_error();
  int32_t st = f().vt.crdt.read(self(), &ct, to_cm(doc), after, cb, &ctx, &err);
  if (ctx.error) std::rethrow_exception(ctx.error);
  check(st, err, "crdt read");
}

std::string CrdtHandle::list(const TenantRef& tn) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.crdt.list, "crdt list", self(), &ct, &s.sink);
  return s.data;
}

void CrdtHandle::remove(const TenantRef& tn, std::string_view doc) const {
  auto ct = tn.c();
  CM_CALL(f().vt.crdt.remove, "crdt remove", self(), &ct, to_cm(doc));
}

// ---- action types / file processors -------------------------------------------

std::string ActionTypeHandle::definitions() const {
  StringSink s;
  CM_CALL(f().vt.action.definitions, "action-type definitions", self(), &s.sink);
  return s.data;
}

std::string ActionTypeHandle::run_hook(const TenantRef& tn, std::string_view hook, std::string_view input_json) const {
  StringSink s;
  auto ct = tn.c();
  CM_CALL(f().vt.action.run_hook, "action-type run_hook", self(), &ct, to_cm(hook), to_cm(input_json), &s.sink);
  return s.data;
}

bool FileProcessorHandle::accepts(std::string_view content_type) const {
  if (!f().vt.processor.accepts) unsupported("file-processor accepts");
  return f().vt.processor.accepts(self(), to_cm(content_type)) != 0;
}

std::string FileProcessorHandle::probe(std::string_view path, std::string_view content_type) const {
  StringSink s;
  CM_CALL(f().vt.processor.probe, "file-processor probe", self(), to_cm(path), to_cm(content_type), &s.sink);
  return s.data;
}

std::string FileProcessorHandle::generate(std::string_view request_json) const {
  StringSink s;
  CM_CALL(f().vt.processor.generate, "file-processor generate", self(), to_cm(request_json), &s.sink);
  return s.data;
}

#undef CM_CALL

}  // namespace cumulo::plugins
