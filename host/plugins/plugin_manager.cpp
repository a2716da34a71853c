#include "plugins/plugin_manager.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <system_error>

#include "plugins/elf_note.hpp"

namespace fs = std::filesystem;

namespace cumulo::plugins {

namespace {

constexpr uint32_t kAllKinds = CM_KIND_AUTH | CM_KIND_META | CM_KIND_BLOB | CM_KIND_RTDB | CM_KIND_CRDT | CM_KIND_ACTION_TYPE | CM_KIND_FILE_PROCESSOR;

std::string sv_or(const char* s) { return s ? std::string(s) : std::string(); }

// Copies min(src_size, sizeof(T)) bytes into a zeroed T: older plugins'
// shorter structs gain zero (= "absent") trailing slots; newer plugins' longer
// structs are cut to what this host knows.
template <class T>
T copy_sized(const void* src, size_t src_size) {
  T out{};
  if (src) std::memcpy(&out, src, std::min(src_size, sizeof(T)));
  out.struct_size = sizeof(T);
  return out;
}

// Meta parts keep the plugin's (clamped) size so completeness is judged on
// the slots the plugin knew about: a part may grow in a later minor.
template <class T>
T copy_part(const T* src) {
  if (!src) return T{};
  T out = copy_sized<T>(src, src->struct_size);
  out.struct_size = static_cast<uint32_t>(std::min<size_t>(src->struct_size, sizeof(T)));
  return out;
}

// ---- host API functions lent to every plugin ----------------------------------

void host_log(void* ctx, int32_t level, cm_str msg) {
  auto* p = static_cast<LoadedPlugin*>(ctx);
  std::string_view text(msg.data ? msg.data : "", msg.size);
  const char* name = p ? p->name.c_str() : "?";
  switch (level) {
    case CM_LOG_DEBUG: spdlog::debug("[{}] {}", name, text); break;
    case CM_LOG_WARN: spdlog::warn("[{}] {}", name, text); break;
    case CM_LOG_ERROR: spdlog::error("[{}] {}", name, text); break;
    default: spdlog::info("[{}] {}", name, text); break;
  }
}

int32_t host_set_error(cm_error* err, int32_t code, cm_str msg) {
  if (!err) return code;
  err->code = code;
  size_t n = std::min(msg.size, sizeof err->message - 1);
  if (n && msg.data) std::memcpy(err->message, msg.data, n);
  err->message[n] = '\0';
  return code;
}

void* host_alloc(size_t n) { return std::malloc(n); }
void host_free(void* p) { std::free(p); }

int64_t host_now_us(void*) {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

void host_metric_add(void* ctx, cm_str name, double v) {
  auto* p = static_cast<LoadedPlugin*>(ctx);
  if (p && p->hooks && p->hooks->metric_add) p->hooks->metric_add(p->name, std::string_view(name.data ? name.data : "", name.size), v);
}

bool valid_plugin_name(std::string_view n) {
  if (n.empty() || n.size() > 47) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; });
}

// Checks that every slot a kind cannot work without is present.
std::string missing_required(const Factory& f) {
  switch (f.kind) {
    case CM_KIND_BLOB: {
      const auto& v = f.vt.blob;
      if (!v.write_open || !v.write_chunk || !v.write_commit || !v.write_abort || !v.read || !v.stat) return "blob vtable lacks a required slot (write_*, read, stat)";
      return {};
    }
    case CM_KIND_RTDB:
      if (!f.vt.rtdb.get || !f.vt.rtdb.query || !f.vt.rtdb.transact) return "rtdb vtable lacks get/query/transact";
      return {};
    case CM_KIND_CRDT:
      if (!f.vt.crdt.append || !f.vt.crdt.read) return "crdt vtable lacks append/read";
      return {};
    case CM_KIND_ACTION_TYPE:
      if (!f.vt.action.definitions) return "action-type vtable lacks definitions";
      return {};
    case CM_KIND_FILE_PROCESSOR:
      if (!f.vt.processor.accepts || !f.vt.processor.generate) return "file-processor vtable lacks accepts/generate";
      return {};
    case CM_KIND_META: {
      // A part is all-or-nothing: a half-implemented part is refused.
      auto whole = [](const auto& part, const char* what) -> std::string {
        if (!part.struct_size) return {};
        const auto* slots = reinterpret_cast<const void* const*>(reinterpret_cast<const char*>(&part) + sizeof(uint64_t));
        size_t n = (part.struct_size > sizeof(uint64_t) ? part.struct_size - sizeof(uint64_t) : 0) / sizeof(void*);
        for (size_t i = 0; i < n; ++i)
          if (!slots[i]) return std::string("meta part '") + what + "' is half implemented";
        return {};
      };
      for (auto s : {whole(f.meta_tenants, "tenants"), whole(f.meta_actions, "actions"), whole(f.meta_files, "files"), whole(f.meta_tasks, "tasks"),
                     whole(f.meta_settings, "settings"), whole(f.meta_records, "records")})
        if (!s.empty()) return s;
      return {};
    }
    default: return {};
  }
}

struct RegistrarCtx {
  std::shared_ptr<LoadedPlugin> plugin;
  std::vector<std::shared_ptr<Factory>> staged;
  const std::map<std::pair<uint32_t, std::string>, std::shared_ptr<const Factory>>* registry = nullptr;
};

int32_t register_factory(void* ctx, const cm_factory* in, cm_error* err) {
  auto* rc = static_cast<RegistrarCtx*>(ctx);
  if (!in || in->struct_size < offsetof(cm_factory, vtable_size) + sizeof(size_t))
    return host_set_error(err, CM_INVALID, {"cm_factory too small", 20});
  auto f = std::make_shared<Factory>();
  f->plugin = rc->plugin;
  f->f = copy_sized<cm_factory>(in, in->struct_size);
  f->kind = f->f.kind;
  f->name.assign(f->f.name.data ? f->f.name.data : "", f->f.name.size);
  f->f.name = {f->name.data(), f->name.size()};
  f->f.options_schema = {};  // borrowed pointer; not kept
  auto fail = [&](const std::string& m) { return host_set_error(err, CM_INVALID, {m.data(), m.size()}); };
  if (std::popcount(f->kind) != 1 || !(f->kind & kAllKinds)) return fail("factory '" + f->name + "' has an invalid kind");
  if (!(f->kind & rc->plugin->kinds)) return fail("factory '" + f->name + "' is of kind " + kind_name(f->kind) + " which the plugin did not declare");
  if (!valid_plugin_name(f->name)) return fail("invalid factory name '" + f->name + "'");
  if (!f->f.create || !f->f.destroy || !f->f.vtable) return fail("factory '" + f->name + "' lacks create/destroy/vtable");
  const void* vt = f->f.vtable;
  const size_t vs = f->f.vtable_size;
  switch (f->kind) {
    case CM_KIND_BLOB: f->vt.blob = copy_sized<cm_blob_vtable>(vt, vs); break;
    case CM_KIND_AUTH: f->vt.auth = copy_sized<cm_auth_vtable>(vt, vs); break;
    case CM_KIND_RTDB: f->vt.rtdb = copy_sized<cm_rtdb_vtable>(vt, vs); break;
    case CM_KIND_CRDT: f->vt.crdt = copy_sized<cm_crdt_vtable>(vt, vs); break;
    case CM_KIND_ACTION_TYPE: f->vt.action = copy_sized<cm_action_type_vtable>(vt, vs); break;
    case CM_KIND_FILE_PROCESSOR: f->vt.processor = copy_sized<cm_file_processor_vtable>(vt, vs); break;
    case CM_KIND_META: {
      f->vt.meta = copy_sized<cm_meta_vtable>(vt, vs);
      f->meta_tenants = copy_part(f->vt.meta.tenants);
      f->meta_actions = copy_part(f->vt.meta.actions);
      f->meta_files = copy_part(f->vt.meta.files);
      f->meta_tasks = copy_part(f->vt.meta.tasks);
      f->meta_settings = copy_part(f->vt.meta.settings);
      f->meta_records = copy_part(f->vt.meta.records);
      // Point at our normalised copies; absent parts become NULL.
      f->vt.meta.tenants = f->meta_tenants.struct_size ? &f->meta_tenants : nullptr;
      f->vt.meta.actions = f->meta_actions.struct_size ? &f->meta_actions : nullptr;
      f->vt.meta.files = f->meta_files.struct_size ? &f->meta_files : nullptr;
      f->vt.meta.tasks = f->meta_tasks.struct_size ? &f->meta_tasks : nullptr;
      f->vt.meta.settings = f->meta_settings.struct_size ? &f->meta_settings : nullptr;
      f->vt.meta.records = f->meta_records.struct_size ? &f->meta_records : nullptr;
      break;
    }
  }
  if (auto m = missing_required(*f); !m.empty()) return fail("factory '" + f->name + "': " + m);
  for (const auto& s : rc->staged)
    if (s->kind == f->kind && s->name == f->name) return fail("factory '" + f->name + "' registered twice");
  auto it = rc->registry->find({f->kind, f->name});
  if (it != rc->registry->end() && it->second->plugin->name != rc->plugin->name)
    return fail(kind_name(f->kind) + " factory '" + f->name + "' is already provided by plugin '" + it->second->plugin->name + "'");
  rc->staged.push_back(std::move(f));
  return CM_OK;
}

}  // namespace

std::string kind_name(uint32_t kind) {
  switch (kind) {
    case CM_KIND_AUTH: return "auth";
    case CM_KIND_META: return "meta";
    case CM_KIND_BLOB: return "blob";
    case CM_KIND_RTDB: return "rtdb";
    case CM_KIND_CRDT: return "crdt";
    case CM_KIND_ACTION_TYPE: return "action-type";
    case CM_KIND_FILE_PROCESSOR: return "file-processor";
    default: return "unknown(" + std::to_string(kind) + ")";
  }
}

uint32_t kind_from_name(std::string_view n) {
  for (uint32_t k = 1; k <= CM_KIND_FILE_PROCESSOR; k <<= 1)
    if (kind_name(k) == n) return k;
  return 0;
}

std::string kinds_string(uint32_t kinds) {
  std::string out;
  for (uint32_t k = 1; k <= CM_KIND_FILE_PROCESSOR; k <<= 1)
    if (kinds & k) out += (out.empty() ? "" : ",") + kind_name(k);
  if (kinds & ~kAllKinds) out += (out.empty() ? "" : ",") + std::string("unknown");
  return out;
}

LoadedPlugin::~LoadedPlugin() {
  if (initialized && info.shutdown) info.shutdown();
  std::error_code ec;
  lib.unload();
  if (!mapped_path.empty()) fs::remove(mapped_path, ec);
  if (initialized) spdlog::info("plugin {} {} unmapped", name, version);
}

Instance::~Instance() {
  if (self_ && factory_->f.destroy) factory_->f.destroy(self_);
}

PluginManager::PluginManager(std::vector<fs::path> plugin_dirs, fs::path shadow_dir, HostHooks hooks)
    : dirs_(std::move(plugin_dirs)), shadow_dir_(std::move(shadow_dir)), hooks_(std::move(hooks)) {
  std::error_code ec;
  fs::create_directories(shadow_dir_, ec);
  fs::permissions(shadow_dir_, fs::perms::owner_all, fs::perm_options::replace, ec);
  // Remove shadow copies a crashed run left behind.
  for (auto& e : fs::directory_iterator(shadow_dir_, ec)) fs::remove(e.path(), ec);
}

PluginManager::~PluginManager() {
  std::lock_guard lk(mu_);
  registry_.clear();
  plugins_.clear();
  // Each plugin removed its shadow copy above; drop the directory too when
  // nothing else is in it (another live manager may share it: then it stays).
  std::error_code ec;
  fs::remove(shadow_dir_, ec);
}

bool PluginManager::in_plugin_dirs(const fs::path& file) const {
  std::error_code ec;
  auto canon = fs::weakly_canonical(file, ec);
  for (const auto& d : dirs_) {
    auto dc = fs::weakly_canonical(d, ec);
    auto rel = canon.lexically_relative(dc);
    if (!rel.empty() && *rel.begin() != ".." && rel.is_relative() && !rel.has_parent_path()) return true;
  }
  return false;
}

PluginReport PluginManager::load(const fs::path& file) {
  std::lock_guard lk(mu_);
  auto r = load_locked(file, false);
  auto it = file_reports_.find(file.string());
  if (r.status == "refused" && it != file_reports_.end() && it->second.status != "refused") {
    // The version already serving stays; the report says why its successor was refused.
    it->second.reason = "replacement refused: " + r.reason;
  } else {
    file_reports_[file.string()] = r;
  }
  return r;
}

PluginReport PluginManager::check(const fs::path& file) {
  std::lock_guard lk(mu_);
  return load_locked(file, true);
}

PluginReport PluginManager::load_locked(const fs::path& file, bool dry_run) {
  if (!dry_run) {
    struct stat sb{};
    if (::stat(file.c_str(), &sb) == 0) stamps_[file.string()] = {static_cast<uintmax_t>(sb.st_size), static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec};
  }
  PluginReport rep;
  rep.file = file.string();
  auto refuse = [&](std::string why) {
    rep.status = "refused";
    rep.reason = std::move(why);
    spdlog::error("plugin {} refused: {}", rep.file, rep.reason);
    return rep;
  };
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return refuse("not a regular file");

  // 1. Read the note from the file: nothing of the plugin runs yet.
  auto note_or = read_plugin_note(file.string());
  if (auto* e = std::get_if<NoteError>(&note_or)) return refuse(e->message);
  const auto note = std::get<cm_plugin_note>(note_or);
  rep.name = note.name;
  rep.version = note.version;
  rep.kinds = kinds_string(note.kinds);
  rep.abi_major = note.abi_major;
  rep.abi_minor = note.abi_minor;
  char buf[160];
  if (note.magic != CM_PLUGIN_MAGIC) {
    std::snprintf(buf, sizeof buf, "wrong magic: expected 0x%08X, found 0x%08X", CM_PLUGIN_MAGIC, note.magic);
    return refuse(buf);
  }
  if (note.abi_major != CM_ABI_MAJOR) {
    std::snprintf(buf, sizeof buf, "ABI major mismatch: host speaks %d.%d, plugin was built for %d.%d", CM_ABI_MAJOR, CM_ABI_MINOR, note.abi_major, note.abi_minor);
    return refuse(buf);
  }
  if (note.abi_minor > CM_ABI_MINOR) {
    std::snprintf(buf, sizeof buf, "plugin needs ABI %d.%d but this host provides %d.%d: upgrade the host", note.abi_major, note.abi_minor, CM_ABI_MAJOR, CM_ABI_MINOR);
    return refuse(buf);
  }

  // 2. Map a private copy (the operator may overwrite the original at any time).
  auto lp = std::make_shared<LoadedPlugin>();
  lp->source_path = file.string();
  lp->mapped_path = (shadow_dir_ / (std::to_string(::getpid()) + "-" + std::to_string(++shadow_seq_) + "-" + file.filename().string())).string();
  fs::copy_file(file, lp->mapped_path, fs::copy_options::overwrite_existing, ec);
  if (ec) return refuse("cannot copy to " + lp->mapped_path + ": " + ec.message());
  boost::dll::fs::error_code dec;
  lp->lib.load(lp->mapped_path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, dec);
  if (dec) {
    const char* de = ::dlerror();
    std::string why = std::string("dlopen failed: ") + (de ? de : dec.message());
    return refuse(why);
  }
  if (!lp->lib.has(CM_ENTRY_SYMBOL)) return refuse("missing entry symbol " CM_ENTRY_SYMBOL);

  // 3. The descriptor must agree with the note.
  auto entry = lp->lib.get<const cm_plugin_info*()>(CM_ENTRY_SYMBOL);
  const cm_plugin_info* info = entry();
  if (!info || info->struct_size < offsetof(cm_plugin_info, init) + sizeof(void*)) return refuse("descriptor missing or too small");
  lp->info = copy_sized<cm_plugin_info>(info, info->struct_size);
  if (lp->info.magic != CM_PLUGIN_MAGIC) {
    std::snprintf(buf, sizeof buf, "wrong magic in descriptor: expected 0x%08X, found 0x%08X", CM_PLUGIN_MAGIC, lp->info.magic);
    return refuse(buf);
  }
  if (lp->info.abi_major != note.abi_major || lp->info.abi_minor != note.abi_minor) return refuse("descriptor ABI version differs from the file note");
  lp->name = sv_or(lp->info.name);
  lp->version = sv_or(lp->info.version);
  lp->compiler = sv_or(lp->info.compiler);
  lp->description = sv_or(lp->info.description);
  lp->kinds = lp->info.kinds;
  lp->abi_major = lp->info.abi_major;
  lp->abi_minor = lp->info.abi_minor;
  rep.compiler = lp->compiler;
  if (lp->name != note.name) return refuse("descriptor name '" + lp->name + "' differs from the file note '" + note.name + "'");
  if (!valid_plugin_name(lp->name)) return refuse("invalid plugin name '" + lp->name + "'");
  if (!lp->info.init) return refuse("descriptor has no init function");
  lp->hooks = &hooks_;
  lp->host_api = cm_host_api{sizeof(cm_host_api), CM_ABI_MAJOR, CM_ABI_MINOR, &host_log, &host_set_error, &host_alloc, &host_free, &host_now_us, &host_metric_add, lp.get()};

  // 4. init registers factories into a staging area: all or nothing.
  RegistrarCtx rc;
  rc.plugin = lp;
  rc.registry = &registry_;
  cm_registrar reg{sizeof(cm_registrar), &rc, &register_factory};
  cm_error err{};
  err.struct_size = sizeof err;
  int32_t st = lp->info.init(&lp->host_api, &reg, &err);
  if (st != CM_OK) {
    rc.staged.clear();
    rc.plugin.reset();
    return refuse(std::string("init failed: ") + (err.message[0] ? err.message : "no message"));
  }
  lp->initialized = true;
  for (const auto& f : rc.staged) rep.factories.push_back(kind_name(f->kind) + ":" + f->name);
  rc.plugin.reset();
  if (dry_run) {
    rep.status = "ok";
    return rep;
  }

  // 5. Commit: drop the factories of the plugin we replace, publish ours.
  bool replaced = plugins_.count(lp->name) > 0;
  std::erase_if(registry_, [&](const auto& kv) { return kv.second->plugin->name == lp->name; });
  for (auto& f : rc.staged) registry_[{f->kind, f->name}] = std::move(f);
  lp->generation = ++generation_;
  plugins_[lp->name] = lp;
  all_mapped_.push_back(lp);
  rep.status = replaced ? "replaced" : "loaded";
  spdlog::info("plugin {} {} {} from {} (ABI {}.{}, {}, {})", lp->name, lp->version, rep.status, rep.file, lp->abi_major, lp->abi_minor, rep.kinds, lp->compiler);
  return rep;
}

std::vector<PluginReport> PluginManager::load_all() {
  std::vector<fs::path> files;
  for (const auto& d : dirs_) {
    std::error_code ec;
    for (auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".so") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<PluginReport> out;
  for (const auto& f : files) out.push_back(load(f));
  return out;
}

std::vector<PluginReport> PluginManager::rescan() {
  std::vector<fs::path> todo;
  {
    std::lock_guard lk(mu_);
    for (const auto& d : dirs_) {
      std::error_code ec;
      for (auto& e : fs::directory_iterator(d, ec)) {
        if (e.path().extension() != ".so") continue;
        struct stat sb{};
        if (::stat(e.path().c_str(), &sb) != 0) continue;
        FileStamp now{static_cast<uintmax_t>(sb.st_size), static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec};
        auto it = stamps_.find(e.path().string());
        // New files, changed files, and files whose last load was refused.
        if (it == stamps_.end() || it->second.size != now.size || it->second.mtime != now.mtime) todo.push_back(e.path());
      }
    }
  }
  std::sort(todo.begin(), todo.end());
  std::vector<PluginReport> out;
  for (const auto& f : todo) out.push_back(load(f));
  return out;
}

bool PluginManager::unload(const std::string& name) {
  std::lock_guard lk(mu_);
  auto it = plugins_.find(name);
  if (it == plugins_.end()) return false;
  std::erase_if(registry_, [&](const auto& kv) { return kv.second->plugin->name == name; });
  // stamps_ are kept: a rescan reloads the file only if it changes on disk.
  std::erase_if(file_reports_, [&](const auto& kv) { return kv.first == it->second->source_path; });
  plugins_.erase(it);
  ++generation_;
  spdlog::info("plugin {} removed from the registry; it unmaps when its last instance is released", name);
  return true;
}

std::shared_ptr<const Factory> PluginManager::find(uint32_t kind, const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = registry_.find({kind, name});
  return it == registry_.end() ? nullptr : it->second;
}

std::shared_ptr<Instance> PluginManager::create(uint32_t kind, const std::string& factory, std::string_view options_json) const {
  auto f = find(kind, factory);
  if (!f) throw PluginError(CM_NOT_FOUND, "no " + kind_name(kind) + " factory named '" + factory + "' is loaded");
  cm_error err{};
  err.struct_size = sizeof err;
  void* self = nullptr;
  int32_t st = f->f.create({options_json.data(), options_json.size()}, &self, &err);
  if (st != CM_OK) throw PluginError(static_cast<cm_status>(st), "creating " + kind_name(kind) + " '" + factory + "' failed: " + err.message);
  if (!self) throw PluginError(CM_INTERNAL, "factory '" + factory + "' returned no instance");
  return std::make_shared<Instance>(std::move(f), self);
}

std::vector<PluginReport> PluginManager::reports() const {
  std::lock_guard lk(mu_);
  std::vector<PluginReport> out;
  for (const auto& [file, r] : file_reports_) {
    PluginReport x = r;
    auto it = plugins_.find(r.name);
    if (x.status != "refused" && (it == plugins_.end() || it->second->source_path != file)) x.status = "superseded";
    out.push_back(std::move(x));
  }
  return out;
}

size_t PluginManager::loaded_count() const {
  std::lock_guard lk(mu_);
  return plugins_.size();
}

size_t PluginManager::mapped_count() const {
  std::lock_guard lk(mu_);
  return std::count_if(all_mapped_.begin(), all_mapped_.end(), [](const auto& w) { return !w.expired(); });
}

uint64_t PluginManager::registry_generation() const {
  std::lock_guard lk(mu_);
  return generation_;
}

}  // namespace cumulo::plugins
