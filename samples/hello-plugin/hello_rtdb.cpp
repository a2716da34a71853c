// hello-rtdb: the smallest realtime-database adapter — JSON documents in memory,
// addressed by (tenant, db, path). Supports get, a prefix query and atomic
// batches of "set"/"delete"; no change feed (subscribe answers UNSUPPORTED).
#include <cumulo/sdk.hpp>

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

using cumulo::sdk::RtdbAdapter;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

// ---- just enough JSON to read a batch: [{"op":…,"path":…,"value":…}, …] ------

constexpr int kMaxDepth = 256;  // bound recursion on nested values

void skip_ws(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

// Scans a string at s[i] == '"'. Decodes simple escapes into `out` (if given);
// \uXXXX is kept verbatim, which is enough to compare op names and paths.
bool scan_string(std::string_view s, size_t& i, std::string* out) {
  if (i >= s.size() || s[i] != '"') return false;
  for (++i; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      ++i;
      return true;
    }
    if (static_cast<unsigned char>(c) < 0x20) return false;
    if (c == '\\') {
      if (++i >= s.size()) return false;
      char e = s[i];
      if (e == 'u') {
        if (out) *out += "\\u";
        continue;
      }
      c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
    }
    if (out) *out += c;
  }
  return false;
}

bool scan_value(std::string_view s, size_t& i, int depth);

// Calls each(start) at every element/member value of the container at s[i].
template <class F>
bool scan_container(std::string_view s, size_t& i, int depth, F&& each) {
  char close = s[i] == '{' ? '}' : ']';
  ++i;
  skip_ws(s, i);
  if (i < s.size() && s[i] == close) {
    ++i;
    return true;
  }
  for (;;) {
    std::string key;
    skip_ws(s, i);
    if (close == '}') {
      if (!scan_string(s, i, &key)) return false;
      skip_ws(s, i);
      if (i >= s.size() || s[i++] != ':') return false;
      skip_ws(s, i);
    }
    size_t start = i;
    if (!scan_value(s, i, depth + 1)) return false;
    if (!each(key, s.substr(start, i - start))) return false;
    skip_ws(s, i);
    if (i >= s.size()) return false;
    if (s[i] == close) {
      ++i;
      return true;
    }
    if (s[i++] != ',') return false;
  }
}

bool scan_value(std::string_view s, size_t& i, int depth) {
  skip_ws(s, i);
  if (i >= s.size() || depth > kMaxDepth) return false;
  if (s[i] == '"') return scan_string(s, i, nullptr);
  if (s[i] == '{' || s[i] == '[') return scan_container(s, i, depth, [](const std::string&, std::string_view) { return true; });
  size_t start = i;  // number or literal: accept the usual characters
  while (i < s.size() && std::string_view("0123456789+-.eEtruefalsn").find(s[i]) != std::string_view::npos) ++i;
  return i > start;
}

struct Op {
  std::string op, path;
  std::optional<std::string> value;  // raw JSON text
};

std::optional<std::vector<Op>> parse_ops(std::string_view s) {
  size_t i = 0;
  skip_ws(s, i);
  if (i >= s.size() || s[i] != '[') return std::nullopt;
  std::vector<Op> ops;
  bool ok = scan_container(s, i, 0, [&](const std::string&, std::string_view elem) {
    size_t j = 0;
    if (elem.empty() || elem[0] != '{') return false;
    Op op;
    bool good = scan_container(elem, j, 1, [&](const std::string& key, std::string_view raw) {
      size_t k = 0;
      if (key == "op") return scan_string(raw, k, &op.op);
      if (key == "path") return scan_string(raw, k, &op.path);
      if (key == "value") op.value = std::string(raw);
      return true;  // unknown members are ignored
    });
    ops.push_back(std::move(op));
    return good;
  });
  skip_ws(s, i);
  if (!ok || i != s.size()) return std::nullopt;
  return ops;
}

// ---- the adapter ---------------------------------------------------------------

class HelloRtdb final : public RtdbAdapter {
 public:
  explicit HelloRtdb(std::string_view /*options_json: none needed*/) {}

  Status get(const Tenant& tn, std::string_view db, std::string_view path, const Sink& out) override {
    std::string doc;
    {
      std::lock_guard lock(mu_);
      auto it = docs_.find(Key{tn.tn_id, std::string(db), std::string(path)});
      if (it == docs_.end()) return Status::NotFound("no document at this path");
      doc = it->second;
    }
    return emit(out, doc);
  }

  // Every document below `coll` + "/" (any depth), in path order. The query
  // (filter, sort, limit) is ignored by this sample.
  Status query(const Tenant& tn, std::string_view db, std::string_view coll, std::string_view /*query_json*/, const Sink& out) override {
    std::string prefix = std::string(coll) + "/";
    std::string text = "[";
    {
      std::lock_guard lock(mu_);
      for (auto it = docs_.lower_bound(Key{tn.tn_id, std::string(db), prefix});
           it != docs_.end() && std::get<0>(it->first) == tn.tn_id && std::get<1>(it->first) == db && std::get<2>(it->first).compare(0, prefix.size(), prefix) == 0; ++it) {
        if (text.size() > 1) text += ',';
        text += it->second;
      }
    }
    return emit(out, text + "]");
  }

  // Validates the whole batch first, then applies it under one lock: atomic.
  Status transact(const Tenant& tn, std::string_view db, std::string_view ops_json, const Sink& out) override {
    auto ops = parse_ops(ops_json);
    if (!ops) return Status::Invalid("ops must be a JSON array of {\"op\",\"path\",\"value\"} objects");
    for (const Op& op : *ops) {
      if (op.path.empty()) return Status::Invalid("op without a \"path\"");
      if (op.op == "set" && !op.value) return Status::Invalid("\"set\" needs a \"value\"");
      if (op.op != "set" && op.op != "delete") return Status::Unsupported("hello-rtdb only knows \"set\" and \"delete\"");
    }
    {
      std::lock_guard lock(mu_);
      for (Op& op : *ops) {
        Key key{tn.tn_id, std::string(db), op.path};
        if (op.op == "set") docs_[std::move(key)] = std::move(*op.value);
        else docs_.erase(key);
      }
    }
    return emit(out, "[]");
  }

 private:
  using Key = std::tuple<uint32_t, std::string, std::string>;  // (tenant, db, path)

  static Status emit(const Sink& out, std::string_view text) {
    return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
  }

  std::mutex mu_;
  std::map<Key, std::string> docs_;
};

}  // namespace

CUMULO_PLUGIN("hello-rtdb", HELLO_VERSION, "Sample: JSON documents in memory", CM_KIND_RTDB) {
  reg.add<HelloRtdb>("hello-rtdb");
}
