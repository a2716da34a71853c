// meta-files: a deliberately small persistent meta adapter (tasks, settings,
// keyed records), one JSON file per object. It serves until the SQLite adapter
// lands. Layout under options.dir:
//
//   tasks/<id>.json                 one task, "id" first
//   tasks/last_id                   the highest id ever handed out
//   tasks/keys/<fnv64 of kind+key>  ids of tasks with that kind+key (dedup index)
//   settings/<tn_id>/<key>.json     the value, verbatim
//   records/<tn_id>/<coll>/<key>.json
//
// Every write goes to a temp file, is fsynced and renamed over the target, and
// the directory is fsynced: readers never see half a file and a crash loses at
// most the write in flight. Key and collection names are escaped (see
// escape()) so they can never leave their directory.
//
// Nothing is cached: every call reads the files, so several instances (the old
// and the new one during a hot reload, or another process) can share a dir.
// Read-modify-write sequences (task ids, task updates, the dedup index) hold
// an flock on <dir>/.lock in addition to the instance mutex.
//
// Portable tenant dump (ABI 1.1, docs/sdk.md "Portable tenant dump"): the
// "record" and "setting" items. An import first writes the whole batch to
// <dir>/import.journal (atomically), then applies it and removes the journal;
// a journal left by a crash is replayed (items are idempotent) under the lock
// by the next instance, import or export, so a batch is all or nothing.
#include <cumulo/sdk.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tenant_dump.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // keeps the caller's field order
using cumulo::sdk::Error;
using cumulo::sdk::Host;
using cumulo::sdk::MetaAdapter;
using cumulo::sdk::MetaRecords;
using cumulo::sdk::MetaSettings;
using cumulo::sdk::MetaTasks;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;
using cumulo::sdk::TenantDump;
namespace dump = cumulo::adapters::dump;

// Longest escaped name we accept: NAME_MAX (255) minus ".json" and slack.
constexpr size_t kMaxName = 240;

[[noreturn]] void io_error(const std::string& what, const fs::path& p, int err = errno) {
  throw Error(CM_IO, "meta-files: " + what + " " + p.string() + ": " + std::strerror(err));
}

// ---- names ----------------------------------------------------------------------

// Bytes outside [A-Za-z0-9._-] become %XX, and so does a leading '.', so a
// name is never "", ".", ".." or hidden (our temp files start with '.').
std::string escape(std::string_view raw, const char* what) {
  if (raw.empty()) throw Error(CM_INVALID, std::string("meta-files: empty ") + what);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || (c == '.' && i > 0);
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (out.size() > kMaxName) throw Error(CM_TOO_LARGE, std::string("meta-files: ") + what + " too long");
  return out;
}

std::optional<std::string> unescape(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '%') {
      out += name[i];
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= name.size()) return std::nullopt;  // truncated %XX
    auto [p, ec] = std::from_chars(name.data() + i + 1, name.data() + i + 3, v, 16);
    if (ec != std::errc() || p != name.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

// FNV-1a: a hash that is the same for every compiler and standard library,
// which matters because the value names files that outlive the build.
uint64_t fnv1a(std::string_view s, uint64_t h = 14695981039346656037ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// ---- files ----------------------------------------------------------------------

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) io_error("cannot open directory", dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) io_error("cannot fsync directory", dir, err);
}

// mkdir -p that also makes each new directory entry durable.
void ensure_dir(const fs::path& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw Error(CM_IO, "meta-files: not a directory: " + dir.string());
    return;
  }
  if (dir.has_parent_path() && dir.parent_path() != dir) ensure_dir(dir.parent_path());
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) io_error("cannot create directory", dir);
  fsync_dir(dir.parent_path());
}

std::optional<std::string> read_file(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    io_error("cannot open", p);
  }
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      io_error("cannot read", p, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

// False if the file was already gone.
bool remove_file(const fs::path& p) {
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return false;
    io_error("cannot remove", p);
  }
  fsync_dir(p.parent_path());
  return true;
}

std::optional<json> parse(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// A top-level string field, or "" when absent or not a string.
std::string str_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status emit(const Sink& out, std::string_view text) {
  return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
}

// ---- the adapter ----------------------------------------------------------------

class FilesMeta final : public MetaAdapter, public MetaTasks, public MetaSettings, public MetaRecords, public TenantDump {
 public:
  explicit FilesMeta(std::string_view options_json) {
    auto opts = parse(options_json);
    if (!opts || !opts->is_object() || !opts->contains("dir") || !(*opts)["dir"].is_string() || (*opts)["dir"].get<std::string>().empty())
      throw Error(CM_INVALID, R"(meta-files: options must be {"dir":"/path/to/data"} with a non-empty "dir")");
    std::error_code ec;
    // Absolute once, so a later chdir of the host cannot move our data.
    dir_ = fs::absolute((*opts)["dir"].get<std::string>(), ec);
    if (ec) throw Error(CM_INVALID, "meta-files: bad dir: " + ec.message());
    for (const char* sub : {"tasks/keys", "settings", "records"}) ensure_dir(dir_ / sub);
    fs::path lock = dir_ / ".lock";
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) io_error("cannot open", lock);
    try {
      Locked l(*this);
      replay_journal();  // an import interrupted by a crash completes now
    } catch (...) {
      ::close(lock_fd_);
      throw;
    }
  }
  ~FilesMeta() override { ::close(lock_fd_); }
  FilesMeta(const FilesMeta&) = delete;
  FilesMeta& operator=(const FilesMeta&) = delete;

  Status health() override {
    if (::access(dir_.c_str(), W_OK) != 0) return Status::Error(CM_UNAVAILABLE, "meta-files: " + dir_.string() + " not writable: " + std::strerror(errno));
    return Status::Ok();
  }

  // -- tasks

  Status create_task(std::string_view task_json, const Sink& out) override {
    auto task = parse(task_json);
    if (!task || !task->is_object()) return Status::Invalid("task is not a JSON object");
    std::string kind = str_field(*task, "kind"), key = str_field(*task, "key");
    int64_t id = 0;
    {
      Locked lock(*this);
      fs::path bucket;
      std::vector<int64_t> bucket_ids;
      if (!key.empty()) {  // dedup: same kind+key among pending tasks
        bucket = bucket_path(kind, key);
        for (int64_t other : read_ids(bucket)) {
          auto t = load_task(other);
          if (!t || str_field(*t, "status") != "P") continue;  // stale entry: drop it
          bucket_ids.push_back(other);
          if (str_field(*t, "kind") == kind && str_field(*t, "key") == key) id = other;
        }
      }
      if (id == 0) {
        // Order matters for crash safety: counter, then index, then task. A
        // crash in between leaves a skipped id or an index entry that points
        // at nothing — both harmless.
        id = read_last_id() + 1;
        write_atomic(dir_ / "tasks" / "last_id", std::to_string(id));
        if (!key.empty()) {
          bucket_ids.push_back(id);
          write_ids(bucket, bucket_ids);
        }
        json stored = json::object();
        stored["id"] = id;
        for (auto& [k, v] : task->items())
          if (k != "id") stored[k] = v;
        write_atomic(task_path(id), stored.dump());
      }
    }
    return emit(out, "{\"id\":" + std::to_string(id) + "}");
  }

  // Merges the patch's top-level keys; "id" never changes.
  Status update_task(int64_t id, std::string_view patch_json) override {
    auto patch = parse(patch_json);
    if (!patch || !patch->is_object()) return Status::Invalid("patch is not a JSON object");
    Locked lock(*this);
    auto task = load_task(id);
    if (!task) return Status::NotFound("no such task");
    bool was_pending = str_field(*task, "status") == "P";
    for (auto& [k, v] : patch->items())
      if (k != "id") (*task)[k] = v;
    write_atomic(task_path(id), task->dump());
    if (was_pending && str_field(*task, "status") != "P") unindex(*task, id);
    return Status::Ok();
  }

  Status get_task(int64_t id, const Sink& out) override {
    auto text = read_file(task_path(id));
    if (!text) return Status::NotFound("no such task");
    return emit(out, *text);
  }

  Status list_pending_tasks(const Sink& out) override {
    std::map<int64_t, std::string> pending;  // ordered by id
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "tasks", ec)) {
      std::string name = entry.path().filename().string();
      int64_t id = 0;
      auto [p, perr] = std::from_chars(name.data(), name.data() + name.size(), id);
      if (perr != std::errc() || std::string_view(p) != ".json") continue;  // last_id, keys/, temp files
      auto text = read_file(entry.path());
      if (!text) continue;  // deleted meanwhile
      auto task = parse(*text);
      if (!task || !task->is_object()) {
        Host::log(CM_LOG_WARN, "meta-files: skipping unreadable task file " + entry.path().string());
        continue;
      }
      if (str_field(*task, "status") == "P") pending.emplace(id, std::move(*text));
    }
    if (ec) return Status::Error(CM_IO, "meta-files: cannot list tasks: " + ec.message());
    std::string arr = "[";
    for (const auto& [id, text] : pending) {
      if (arr.size() > 1) arr += ',';
      arr += text;
    }
    return emit(out, arr + "]");
  }

  Status delete_task(int64_t id) override {
    Locked lock(*this);
    auto task = load_task(id);
    if (!task) return Status::NotFound("no such task");
    remove_file(task_path(id));
    unindex(*task, id);
    return Status::Ok();
  }

  // -- settings: values verbatim; no lock needed, each write is one rename

  Status get_setting(const Tenant& tn, std::string_view key, const Sink& out) override {
    auto text = read_file(setting_path(tn, key));
    if (!text) return Status::NotFound("no such setting");
    return emit(out, *text);
  }

  Status put_setting(const Tenant& tn, std::string_view key, std::string_view value_json) override {
    if (!json::accept(value_json)) return Status::Invalid("setting value is not JSON");
    fs::path p = setting_path(tn, key);
    ensure_dir(p.parent_path());
    write_atomic(p, value_json);
    return Status::Ok();
  }

  // Writes {key: value} for the tenant's settings whose key starts with `prefix`.
  Status list_settings(const Tenant& tn, std::string_view prefix, const Sink& out) override {
    std::map<std::string, std::string> found;  // sorted by key
    for_each_json_file(dir_ / "settings" / std::to_string(tn.tn_id), [&](const std::string& key, std::string&& text) {
      if (key.compare(0, prefix.size(), prefix) == 0) found.emplace(key, std::move(text));
    });
    std::string obj = "{";
    for (const auto& [key, text] : found) {
      if (obj.size() > 1) obj += ',';
      obj += json(key).dump() + ":" + text;
    }
    return emit(out, obj + "}");
  }

  Status delete_setting(const Tenant& tn, std::string_view key) override {
    if (!remove_file(setting_path(tn, key))) return Status::NotFound("no such setting");
    return Status::Ok();
  }

  // -- records

  Status put_record(const Tenant& tn, std::string_view coll, std::string_view key, std::string_view record_json) override {
    if (!json::accept(record_json)) return Status::Invalid("record is not JSON");
    fs::path p = record_path(tn, coll, key);
    ensure_dir(p.parent_path());
    write_atomic(p, record_json);
    return Status::Ok();
  }

  Status get_record(const Tenant& tn, std::string_view coll, std::string_view key, const Sink& out) override {
    auto text = read_file(record_path(tn, coll, key));
    if (!text) return Status::NotFound("no such record");
    return emit(out, *text);
  }

  Status delete_record(const Tenant& tn, std::string_view coll, std::string_view key) override {
    if (!remove_file(record_path(tn, coll, key))) return Status::NotFound("no such record");
    return Status::Ok();
  }

  // JSON array of the collection's records in key order. A filter object keeps
  // the records whose top-level fields equal each of its fields.
  Status list_records(const Tenant& tn, std::string_view coll, std::string_view filter_json, const Sink& out) override {
    json filter = json::object();
    if (filter_json.find_first_not_of(" \t\r\n") != std::string_view::npos) {
      auto f = parse(filter_json);
      if (!f || !f->is_object()) return Status::Invalid("filter is not a JSON object");
      filter = std::move(*f);
    }
    std::map<std::string, std::string> found;
    for_each_json_file(dir_ / "records" / std::to_string(tn.tn_id) / escape(coll, "collection"), [&](const std::string& key, std::string&& text) {
      if (!filter.empty()) {
        auto rec = parse(text);
        if (!rec || !rec->is_object()) return;
        for (auto& [k, v] : filter.items()) {
          auto it = rec->find(k);
          if (it == rec->end() || *it != v) return;
        }
      }
      found.emplace(key, std::move(text));
    });
    std::string arr = "[";
    for (const auto& [key, text] : found) {
      if (arr.size() > 1) arr += ',';
      arr += text;
    }
    return emit(out, arr + "]");
  }

  // -- portable tenant dump: "record" (k = collection NUL key) and "setting" (k = key)

  Status export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    const dump::After a = dump::parse_after(after);
    {
      Locked l(*this);
      replay_journal();
    }
    dump::Lines lines(out, limit);
    // Returns true when the limit is reached.
    auto emit = [&](std::string_view t, std::string_view k, const fs::path& file) {
      auto text = read_file(file);
      return text && lines.add(t, k, *text);  // a file deleted meanwhile is skipped
    };
    const fs::path tn_dir = std::to_string(tn.tn_id);
    if (a.wants_type("record")) {
      auto from = a.key_in("record");
      std::string from_coll = from ? std::string(from->substr(0, from->find('\0'))) : std::string();
      for (const auto& [coll, coll_dir] : sorted_names(dir_ / "records" / tn_dir, false)) {
        if (from && coll < from_coll) continue;  // every key of it sorts before the cursor
        for (const auto& [key, file] : sorted_names(coll_dir, true)) {
          std::string k = dump::join_key({coll, key});
          if (from && k <= *from) continue;
          if (emit("record", k, file)) {
            lines.flush();
            return Status::Ok();
          }
        }
      }
    }
    if (a.wants_type("setting")) {
      auto from = a.key_in("setting");
      for (const auto& [key, file] : sorted_names(dir_ / "settings" / tn_dir, true)) {
        if (from && key <= *from) continue;
        if (emit("setting", key, file)) {
          lines.flush();
          return Status::Ok();
        }
      }
    }
    lines.flush();
    return Status::Ok();
  }

  Status import_items(const Tenant& tn, std::string_view lines) override {
    auto items = dump::parse_items<json>(lines);
    for (const auto& it : items) target_of(tn.tn_id, it);  // validates every item first
    std::string journal = "tn " + std::to_string(tn.tn_id) + "\n";
    for (const auto& it : items) dump::append_line(journal, it.t, it.k, it.v ? it.v->dump() : "null");
    Locked l(*this);
    replay_journal();
    write_atomic(journal_path(), journal);
    apply(tn.tn_id, items);
    remove_file(journal_path());
    return Status::Ok();
  }

 private:
  fs::path journal_path() const { return dir_ / "import.journal"; }

  // The file an item lives in; CM_INVALID / CM_UNSUPPORTED for items this
  // adapter cannot hold.
  fs::path target_of(uint32_t tn_id, const dump::Item<json>& it) const {
    const Tenant tn{tn_id, {}};
    if (it.t == "record") {
      auto parts = dump::split_key(it.k, 2, "record");
      return record_path(tn, parts[0], parts[1]);
    }
    if (it.t == "setting") return setting_path(tn, it.k);
    throw Error(CM_UNSUPPORTED, "meta-files stores only settings and records: cannot import \"" + it.t + "\" items");
  }

  // Holding the lock. Idempotent: replaying a batch twice is harmless.
  void apply(uint32_t tn_id, const std::vector<dump::Item<json>>& items) {
    for (const auto& it : items) {
      fs::path p = target_of(tn_id, it);
      if (!it.v) {
        remove_file(p);
        continue;
      }
      ensure_dir(p.parent_path());
      write_atomic(p, it.v->dump());
    }
  }

  // Holding the lock: finishes a batch a crash interrupted.
  void replay_journal() {
    auto text = read_file(journal_path());
    if (!text) return;
    std::string_view t(*text);
    size_t nl = t.find('\n');
    uint32_t tn_id = 0;
    auto [p, ec] = std::from_chars(t.data() + std::min<size_t>(3, t.size()), t.data() + (nl == std::string_view::npos ? t.size() : nl), tn_id);
    if (t.substr(0, 3) != "tn " || ec != std::errc() || nl == std::string_view::npos)
      throw Error(CM_INTERNAL, "meta-files: corrupt " + journal_path().string());
    (void)p;
    apply(tn_id, dump::parse_items<json>(t.substr(nl + 1)));
    remove_file(journal_path());
  }

  // (unescaped name, path) of the entries of `dir`, sorted bytewise by name:
  // "<escaped>.json" files when `files`, else subdirectories. Missing = empty.
  std::vector<std::pair<std::string, fs::path>> sorted_names(const fs::path& dir, bool files) const {
    std::vector<std::pair<std::string, fs::path>> out;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) return out;
      throw Error(CM_IO, "meta-files: cannot list " + dir.string() + ": " + ec.message());
    }
    for (const auto& entry : it) {
      std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.') continue;  // temp files
      if (files) {
        if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
        name.resize(name.size() - 5);
      } else if (!entry.is_directory(ec)) {
        continue;
      }
      if (auto raw = unescape(name)) out.emplace_back(std::move(*raw), entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The instance mutex orders our threads; the flock orders instances and
  // processes (flock locks belong to the open file, so threads sharing
  // lock_fd_ would not exclude each other without the mutex).
  class Locked {
   public:
    explicit Locked(FilesMeta& m) : guard_(m.mu_), fd_(m.lock_fd_) {
      while (::flock(fd_, LOCK_EX) != 0)
        if (errno != EINTR) throw Error(CM_IO, std::string("meta-files: flock: ") + std::strerror(errno));
    }
    ~Locked() { ::flock(fd_, LOCK_UN); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

   private:
    std::lock_guard<std::mutex> guard_;
    int fd_;
  };

  static std::string hex64(uint64_t v) {
    char buf[17];
    auto [p, ec] = std::to_chars(buf, buf + 16, v, 16);
    (void)ec;
    return std::string(16 - static_cast<size_t>(p - buf), '0') + std::string(buf, p);
  }

  fs::path task_path(int64_t id) const { return dir_ / "tasks" / (std::to_string(id) + ".json"); }
  // Keys can be long and arbitrary, so the index file is named by a hash of
  // kind + NUL + key; collisions only share a bucket, entries are verified.
  fs::path bucket_path(const std::string& kind, const std::string& key) const {
    return dir_ / "tasks" / "keys" / hex64(fnv1a(key, fnv1a(std::string_view(kind.c_str(), kind.size() + 1))));
  }
  fs::path setting_path(const Tenant& tn, std::string_view key) const {
    return dir_ / "settings" / std::to_string(tn.tn_id) / (escape(key, "setting key") + ".json");
  }
  fs::path record_path(const Tenant& tn, std::string_view coll, std::string_view key) const {
    return dir_ / "records" / std::to_string(tn.tn_id) / escape(coll, "collection") / (escape(key, "record key") + ".json");
  }

  std::optional<json> load_task(int64_t id) const {
    auto text = read_file(task_path(id));
    if (!text) return std::nullopt;
    auto task = parse(*text);
    if (!task || !task->is_object()) throw Error(CM_INTERNAL, "meta-files: corrupt task file " + task_path(id).string());
    return task;
  }

  // Holding the lock. A missing or unreadable counter is rebuilt from the
  // task files, so the counter can never hand out an id that exists.
  int64_t read_last_id() const {
    int64_t last = 0;
    if (auto text = read_file(dir_ / "tasks" / "last_id")) {
      auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), last);
      if (ec == std::errc() && last >= 0) return last;
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "tasks", ec)) {
      std::string name = entry.path().filename().string();
      int64_t id = 0;
      auto [p, perr] = std::from_chars(name.data(), name.data() + name.size(), id);
      if (perr == std::errc() && std::string_view(p) == ".json" && id > last) last = id;
    }
    if (ec) throw Error(CM_IO, "meta-files: cannot list tasks: " + ec.message());
    return last;
  }

  std::vector<int64_t> read_ids(const fs::path& bucket) const {
    std::vector<int64_t> ids;
    auto text = read_file(bucket);
    if (!text) return ids;
    const char* p = text->data();
    const char* end = p + text->size();
    while (p < end) {
      int64_t id = 0;
      auto [next, ec] = std::from_chars(p, end, id);
      if (ec == std::errc()) ids.push_back(id);
      p = next;
      while (p < end && (*p < '0' || *p > '9')) ++p;
    }
    return ids;
  }

  void write_ids(const fs::path& bucket, const std::vector<int64_t>& ids) {
    if (ids.empty()) {
      remove_file(bucket);
      return;
    }
    std::string text;
    for (int64_t id : ids) text += std::to_string(id) + "\n";
    write_atomic(bucket, text);
  }

  // Holding the lock: drops `id` from its kind+key dedup bucket.
  void unindex(const json& task, int64_t id) {
    std::string key = str_field(task, "key"), kind = str_field(task, "kind");
    if (key.empty()) return;
    fs::path bucket = bucket_path(kind, key);
    std::vector<int64_t> ids = read_ids(bucket);
    std::erase(ids, id);
    write_ids(bucket, ids);
  }

  // Calls fn(unescaped key, content) for every "<escaped>.json" in dir; a
  // missing dir is empty.
  template <class F>
  void for_each_json_file(const fs::path& dir, F&& fn) const {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) return;
      throw Error(CM_IO, "meta-files: cannot list " + dir.string() + ": " + ec.message());
    }
    for (const auto& entry : it) {
      std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.' || name.size() <= 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
      auto key = unescape(std::string_view(name).substr(0, name.size() - 5));
      if (!key) continue;
      auto text = read_file(entry.path());
      if (text) fn(*key, std::move(*text));
    }
  }

  // Temp file in the target's directory (rename must not cross filesystems),
  // named uniquely per process, instance and call; fsync, rename, fsync dir.
  void write_atomic(const fs::path& target, std::string_view data) {
    fs::path dir = target.parent_path();
    fs::path tmp;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
      tmp = dir / (".tmp." + std::to_string(::getpid()) + "." + hex64(reinterpret_cast<uintptr_t>(this)) + "." + std::to_string(tmp_seq_++));
      fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0 && (errno != EEXIST || attempt > 8)) io_error("cannot create", tmp);
    }
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        io_error("cannot write", tmp, err);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      io_error("cannot fsync", tmp, err);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      io_error("cannot rename onto", target, err);
    }
    fsync_dir(dir);
  }

  fs::path dir_;
  int lock_fd_ = -1;
  std::mutex mu_;
  std::atomic<uint64_t> tmp_seq_{0};
};

}  // namespace

CUMULO_PLUGIN("meta-files", "0.1.0", "Meta adapter (tasks, settings, records) persisted as JSON files", CM_KIND_META) {
  reg.add<FilesMeta>("meta-files", R"({"type":"object","required":["dir"],"properties":{"dir":{"type":"string"}}})");
}
