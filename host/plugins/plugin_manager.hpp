// Loads plugin .so files, keeps the registry of factories by (kind, name),
// and guarantees that a library stays mapped while anything it created lives.
//
// Ownership chain (each arrow is a shared_ptr):
//   Instance → Factory → LoadedPlugin (→ the mapped library)
// so a library is unmapped only after its last instance, and its shutdown()
// runs after every instance's destroy().
#pragma once

#include <cumulo/cumulo_abi.h>

#include <boost/dll/shared_library.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cumulo::plugins {

/// An error returned by a plugin (or by the host about a plugin).
class PluginError : public std::runtime_error {
 public:
  PluginError(cm_status code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  cm_status code() const { return code_; }

 private:
  cm_status code_;
};

std::string kind_name(uint32_t kind);
std::string kinds_string(uint32_t kinds);
/// "blob" → CM_KIND_BLOB, 0 if unknown.
uint32_t kind_from_name(std::string_view name);

/// Process-wide services lent to plugins (logging, metrics).
struct HostHooks {
  std::function<void(std::string_view plugin, std::string_view name, double value)> metric_add;
};

/// One mapped library. Destroyed (shutdown + dlclose) when the last factory
/// or instance referencing it goes away.
struct LoadedPlugin {
  std::string source_path;  // where the operator put it
  std::string mapped_path;  // private shadow copy actually mapped
  std::string name, version, compiler, description;
  uint32_t kinds = 0;
  uint16_t abi_major = 0, abi_minor = 0;
  uint64_t generation = 0;  // increases with every load; tells versions apart
  bool initialized = false; // init succeeded: shutdown() is owed
  cm_plugin_info info{};    // host-sized copy, zero-filled
  cm_host_api host_api{};   // this plugin's view of the host (host_ctx = this)
  const HostHooks* hooks = nullptr;
  boost::dll::shared_library lib;

  ~LoadedPlugin();
};

/// A registered factory. Its tables are host-sized copies: missing trailing
/// slots of older plugins read as NULL ("feature off").
struct Factory {
  std::shared_ptr<LoadedPlugin> plugin;
  uint32_t kind = 0;
  std::string name;
  cm_factory f{};
  // Normalised vtable storage for every kind (only the one for `kind` is used).
  union {
    cm_blob_vtable blob;
    cm_auth_vtable auth;
    cm_meta_vtable meta;
    cm_rtdb_vtable rtdb;
    cm_crdt_vtable crdt;
    cm_action_type_vtable action;
    cm_file_processor_vtable processor;
  } vt{};
  cm_meta_tenants meta_tenants{};
  cm_meta_actions meta_actions{};
  cm_meta_files meta_files{};
  cm_meta_tasks meta_tasks{};
  cm_meta_settings meta_settings{};
  cm_meta_records meta_records{};
};

/// One object created by a factory, e.g. "the blob store of profile big".
class Instance {
 public:
  Instance(std::shared_ptr<const Factory> f, void* self) : factory_(std::move(f)), self_(self) {}
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  void* self() const { return self_; }
  const Factory& factory() const { return *factory_; }
  const LoadedPlugin& plugin() const { return *factory_->plugin; }

 private:
  std::shared_ptr<const Factory> factory_;
  void* self_;
};

/// What `cumulo plugins list` and the admin API show for one file.
struct PluginReport {
  std::string file;
  std::string status;  // "loaded", "refused", "replaced"
  std::string reason;  // why refused
  std::string name, version, kinds, compiler;
  uint16_t abi_major = 0, abi_minor = 0;
  std::vector<std::string> factories;
};

class PluginManager {
 public:
  /// `shadow_dir`: private directory where libraries are copied before
  /// mapping, so replacing a file on disk never touches mapped code and the
  /// same path can be loaded again as a new version.
  PluginManager(std::vector<std::filesystem::path> plugin_dirs, std::filesystem::path shadow_dir, HostHooks hooks = {});
  ~PluginManager();

  /// Checks and loads one file. If a plugin of the same name is loaded, the
  /// new one replaces it (its factories supersede the old ones; the old
  /// library drains and unmaps when unused). Never throws: refusals come back
  /// as a report with status "refused".
  PluginReport load(const std::filesystem::path& file);

  /// Loads every *.so in the plugin directories (sorted by name).
  std::vector<PluginReport> load_all();

  /// Re-scans the directories: loads new files and reloads changed ones
  /// (by size + mtime). Returns the reports of files acted upon.
  std::vector<PluginReport> rescan();

  /// Removes a plugin's factories from the registry. The library unmaps when
  /// its last instance goes. Returns false if no such plugin.
  bool unload(const std::string& name);

  /// Only inspects (note + descriptor + dry-run init), never registers.
  PluginReport check(const std::filesystem::path& file);

  std::shared_ptr<const Factory> find(uint32_t kind, const std::string& name) const;
  /// Creates an instance; throws PluginError with the plugin's message.
  std::shared_ptr<Instance> create(uint32_t kind, const std::string& factory, std::string_view options_json) const;

  std::vector<PluginReport> reports() const;
  size_t loaded_count() const;
  /// Libraries still mapped (loaded + draining). Used by tests and /metrics.
  size_t mapped_count() const;
  /// Generation counter of the last registry change (bindings compare it).
  uint64_t registry_generation() const;

  bool in_plugin_dirs(const std::filesystem::path& file) const;

 private:
  struct FileStamp {
    uintmax_t size = 0;
    int64_t mtime = 0;
  };
  PluginReport load_locked(const std::filesystem::path& file, bool dry_run);

  std::vector<std::filesystem::path> dirs_;
  std::filesystem::path shadow_dir_;
  HostHooks hooks_;
  mutable std::mutex mu_;
  std::map<std::pair<uint32_t, std::string>, std::shared_ptr<const Factory>> registry_;
  std::map<std::string, std::shared_ptr<LoadedPlugin>> plugins_;  // by plugin name
  std::map<std::string, PluginReport> file_reports_;              // by source file
  std::map<std::string, FileStamp> stamps_;                       // by source file
  std::vector<std::weak_ptr<LoadedPlugin>> all_mapped_;
  uint64_t generation_ = 0;
  uint64_t shadow_seq_ = 0;
};

}  // namespace cumulo::plugins
