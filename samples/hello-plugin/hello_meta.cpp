// hello-meta: the smallest meta adapter — settings, keyed records and scheduler
// tasks, all in memory. It shows how one class exposes several meta parts: the
// parts it does not derive from (tenants, actions, files) are reported to the
// host as absent.
#include <cumulo/sdk.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::MetaAdapter;
using cumulo::sdk::MetaRecords;
using cumulo::sdk::MetaSettings;
using cumulo::sdk::MetaTasks;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

// ---- a tiny JSON scanner: validates, and splits a top-level object ----------
// Values are kept as raw text; only strings we must compare get decoded.

constexpr int kMaxDepth = 256;  // the host sends the JSON, but bound recursion anyway

void skip_ws(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

void put_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool hex4(std::string_view s, size_t i, unsigned& v) {
  if (i + 4 > s.size()) return false;
  v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
    else return false;
  }
  return true;
}

// Scans a string at s[i] == '"'; appends the decoded text to `out` if given.
bool scan_string(std::string_view s, size_t& i, std::string* out) {
  if (i >= s.size() || s[i] != '"') return false;
  for (++i; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      ++i;
      return true;
    }
    if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control chars are not JSON
    if (c != '\\') {
      if (out) *out += c;
      continue;
    }
    if (++i >= s.size()) return false;
    char e = s[i];
    char plain = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : (e == '"' || e == '\\' || e == '/') ? e : 0;
    if (plain) {
      if (out) *out += plain;
      continue;
    }
    if (e != 'u') return false;
    unsigned cp = 0;
    if (!hex4(s, i + 1, cp)) return false;
    i += 4;
    unsigned lo = 0;  // join a surrogate pair when one follows
    if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < s.size() && s[i + 1] == '\\' && s[i + 2] == 'u' && hex4(s, i + 3, lo) && lo >= 0xDC00 && lo < 0xE000) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      i += 6;
    }
    if (out) put_utf8(*out, cp);
  }
  return false;
}

bool scan_value(std::string_view s, size_t& i, int depth = 0);

bool scan_container(std::string_view s, size_t& i, int depth) {
  char close = s[i] == '{' ? '}' : ']';
  bool object = close == '}';
  ++i;
  skip_ws(s, i);
  if (i < s.size() && s[i] == close) {
    ++i;
    return true;
  }
  for (;;) {
    if (object) {
      skip_ws(s, i);
      if (!scan_string(s, i, nullptr)) return false;
      skip_ws(s, i);
      if (i >= s.size() || s[i++] != ':') return false;
    }
    if (!scan_value(s, i, depth + 1)) return false;
    skip_ws(s, i);
    if (i >= s.size()) return false;
    if (s[i] == close) {
      ++i;
      return true;
    }
    if (s[i++] != ',') return false;
  }
}

// Scans one value of any kind (leading whitespace allowed).
bool scan_value(std::string_view s, size_t& i, int depth) {
  skip_ws(s, i);
  if (i >= s.size() || depth > kMaxDepth) return false;
  char c = s[i];
  if (c == '"') return scan_string(s, i, nullptr);
  if (c == '{' || c == '[') return scan_container(s, i, depth);
  for (std::string_view lit : {"true", "false", "null"}) {
    if (s.substr(i, lit.size()) == lit) {
      i += lit.size();
      return true;
    }
  }
  size_t start = i;  // a number: loose check, the host produced it
  while (i < s.size() && (std::string_view("0123456789+-.eE").find(s[i]) != std::string_view::npos)) ++i;
  return i > start;
}

// True if `s` is exactly one JSON value (surrounding whitespace allowed).
bool is_json(std::string_view s) {
  size_t i = 0;
  if (!scan_value(s, i)) return false;
  skip_ws(s, i);
  return i == s.size();
}

// A top-level object as ordered (key, raw value text) pairs.
using Object = std::vector<std::pair<std::string, std::string>>;

std::optional<Object> parse_object(std::string_view s) {
  size_t i = 0;
  skip_ws(s, i);
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  Object obj;
  ++i;
  skip_ws(s, i);
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    for (;;) {
      skip_ws(s, i);
      std::string key;
      if (!scan_string(s, i, &key)) return std::nullopt;
      skip_ws(s, i);
      if (i >= s.size() || s[i++] != ':') return std::nullopt;
      skip_ws(s, i);
      size_t start = i;
      if (!scan_value(s, i)) return std::nullopt;
      obj.emplace_back(std::move(key), std::string(s.substr(start, i - start)));
      skip_ws(s, i);
      if (i >= s.size()) return std::nullopt;
      if (s[i] == '}') {
        ++i;
        break;
      }
      if (s[i++] != ',') return std::nullopt;
    }
  }
  skip_ws(s, i);
  if (i != s.size()) return std::nullopt;
  return obj;
}

// The decoded value of `key` if it is a JSON string.
std::optional<std::string> string_field(const Object& obj, std::string_view key) {
  for (const auto& [k, raw] : obj) {
    if (k != key) continue;
    std::string out;
    size_t i = 0;
    if (scan_string(raw, i, &out)) return out;
    return std::nullopt;
  }
  return std::nullopt;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string to_json(const Object& obj) {
  std::string out = "{";
  for (const auto& [k, raw] : obj) {
    if (out.size() > 1) out += ',';
    out += quote(k);
    out += ':';
    out += raw;
  }
  return out + "}";
}

Status emit(const Sink& out, std::string_view text) {
  return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
}

// ---- the adapter ---------------------------------------------------------------

class HelloMeta final : public MetaAdapter, public MetaSettings, public MetaRecords, public MetaTasks {
 public:
  explicit HelloMeta(std::string_view /*options_json: none needed*/) {}

  // -- settings: (tenant, key) -> JSON text, stored verbatim

  Status get_setting(const Tenant& tn, std::string_view key, const Sink& out) override {
    std::string value;
    {
      std::lock_guard lock(mu_);
      auto it = settings_.find(SettingKey{tn.tn_id, std::string(key)});
      if (it == settings_.end()) return Status::NotFound("no such setting");
      value = it->second;
    }
    return emit(out, value);
  }

  Status put_setting(const Tenant& tn, std::string_view key, std::string_view value_json) override {
    if (key.empty()) return Status::Invalid("empty setting key");
    if (!is_json(value_json)) return Status::Invalid("setting value is not JSON");
    std::lock_guard lock(mu_);
    settings_[SettingKey{tn.tn_id, std::string(key)}] = std::string(value_json);
    return Status::Ok();
  }

  // Writes a JSON object {key: value} of the settings whose key starts with `prefix`.
  Status list_settings(const Tenant& tn, std::string_view prefix, const Sink& out) override {
    std::string text = "{";
    {
      std::lock_guard lock(mu_);
      for (auto it = settings_.lower_bound(SettingKey{tn.tn_id, std::string(prefix)});
           it != settings_.end() && it->first.first == tn.tn_id && it->first.second.compare(0, prefix.size(), prefix) == 0; ++it) {
        if (text.size() > 1) text += ',';
        text += quote(it->first.second) + ":" + it->second;
      }
    }
    return emit(out, text + "}");
  }

  Status delete_setting(const Tenant& tn, std::string_view key) override {
    std::lock_guard lock(mu_);
    if (settings_.erase(SettingKey{tn.tn_id, std::string(key)}) == 0) return Status::NotFound("no such setting");
    return Status::Ok();
  }

  // -- records: (tenant, collection, key) -> JSON text

  Status put_record(const Tenant& tn, std::string_view coll, std::string_view key, std::string_view json) override {
    if (coll.empty() || key.empty()) return Status::Invalid("empty collection or key");
    if (!is_json(json)) return Status::Invalid("record is not JSON");
    std::lock_guard lock(mu_);
    records_[RecordKey{tn.tn_id, std::string(coll), std::string(key)}] = std::string(json);
    return Status::Ok();
  }

  Status get_record(const Tenant& tn, std::string_view coll, std::string_view key, const Sink& out) override {
    std::string rec;
    {
      std::lock_guard lock(mu_);
      auto it = records_.find(RecordKey{tn.tn_id, std::string(coll), std::string(key)});
      if (it == records_.end()) return Status::NotFound("no such record");
      rec = it->second;
    }
    return emit(out, rec);
  }

  Status delete_record(const Tenant& tn, std::string_view coll, std::string_view key) override {
    std::lock_guard lock(mu_);
    if (records_.erase(RecordKey{tn.tn_id, std::string(coll), std::string(key)}) == 0) return Status::NotFound("no such record");
    return Status::Ok();
  }

  // JSON array of the collection's records in key order; the filter is ignored here.
  // A filter object keeps records whose top-level fields equal the filter's
  // (compared as raw JSON text: enough for the scalars a toy store holds).
  Status list_records(const Tenant& tn, std::string_view coll, std::string_view filter_json, const Sink& out) override {
    Object filter;
    if (filter_json.find_first_not_of(" \t\r\n") != std::string_view::npos) {
      auto f = parse_object(filter_json);
      if (!f) return Status::Invalid("filter is not a JSON object");
      filter = std::move(*f);
    }
    auto matches = [&](const std::string& rec) {
      if (filter.empty()) return true;
      auto obj = parse_object(rec);
      if (!obj) return false;
      // No structured bindings here: clang 14 cannot capture them in lambdas.
      for (const auto& want : filter) {
        auto it = std::find_if(obj->begin(), obj->end(), [&](const auto& kv) { return kv.first == want.first; });
        if (it == obj->end() || it->second != want.second) return false;
      }
      return true;
    };
    std::string text = "[";
    {
      std::lock_guard lock(mu_);
      for (auto it = records_.lower_bound(RecordKey{tn.tn_id, std::string(coll), ""});
           it != records_.end() && std::get<0>(it->first) == tn.tn_id && std::get<1>(it->first) == coll; ++it) {
        if (!matches(it->second)) continue;
        if (text.size() > 1) text += ',';
        text += it->second;
      }
    }
    return emit(out, text + "]");
  }

  // -- tasks: id -> top-level fields, "id" always first

  Status create_task(std::string_view task_json, const Sink& out) override {
    auto task = parse_object(task_json);
    if (!task) return Status::Invalid("task is not a JSON object");
    auto key = string_field(*task, "key");
    auto kind = string_field(*task, "kind");
    int64_t id = 0;
    {
      std::lock_guard lock(mu_);
      if (key && !key->empty()) {  // dedup: same kind+key while pending
        for (const auto& [tid, t] : tasks_) {
          if (string_field(t, "status") == "P" && string_field(t, "kind") == kind && string_field(t, "key") == key) {
            id = tid;
            break;
          }
        }
      }
      if (id == 0) {
        id = ++last_id_;
        task->insert(task->begin(), {"id", std::to_string(id)});
        tasks_.emplace(id, std::move(*task));
      }
    }
    return emit(out, "{\"id\":" + std::to_string(id) + "}");
  }

  // Merges the patch's top-level keys into the task; "id" never changes.
  Status update_task(int64_t id, std::string_view patch_json) override {
    auto patch = parse_object(patch_json);
    if (!patch) return Status::Invalid("patch is not a JSON object");
    std::lock_guard lock(mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return Status::NotFound("no such task");
    for (auto& member : *patch) {
      if (member.first == "id") continue;
      auto field = std::find_if(it->second.begin(), it->second.end(), [&](const auto& f) { return f.first == member.first; });
      if (field != it->second.end()) field->second = std::move(member.second);
      else it->second.push_back(std::move(member));
    }
    return Status::Ok();
  }

  Status get_task(int64_t id, const Sink& out) override {
    std::string text;
    {
      std::lock_guard lock(mu_);
      auto it = tasks_.find(id);
      if (it == tasks_.end()) return Status::NotFound("no such task");
      text = to_json(it->second);
    }
    return emit(out, text);
  }

  Status list_pending_tasks(const Sink& out) override {
    std::string text = "[";
    {
      std::lock_guard lock(mu_);
      for (const auto& [tid, t] : tasks_) {
        if (string_field(t, "status") != "P") continue;
        if (text.size() > 1) text += ',';
        text += to_json(t);
      }
    }
    return emit(out, text + "]");
  }

  Status delete_task(int64_t id) override {
    std::lock_guard lock(mu_);
    if (tasks_.erase(id) == 0) return Status::NotFound("no such task");
    return Status::Ok();
  }

 private:
  using SettingKey = std::pair<uint32_t, std::string>;
  using RecordKey = std::tuple<uint32_t, std::string, std::string>;

  std::mutex mu_;  // one lock: the sample favours obviousness over throughput
  std::map<SettingKey, std::string> settings_;
  std::map<RecordKey, std::string> records_;
  std::map<int64_t, Object> tasks_;
  int64_t last_id_ = 0;
};

}  // namespace

CUMULO_PLUGIN("hello-meta", HELLO_VERSION, "Sample: settings, records and tasks in memory", CM_KIND_META) {
  reg.add<HelloMeta>("hello-meta");
}
