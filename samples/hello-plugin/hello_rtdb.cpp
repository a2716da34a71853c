// hello-rtdb: the smallest realtime-database adapter — JSON documents in memory,
// addressed by (tenant, db, collection, id). It does what every rtdb adapter
// must (docs/sdk.md §6.4): get; query with filter, sort, limit, offset and
// cursor; atomic batches of set/update/delete/create. No change feed
// (subscribe answers UNSUPPORTED) and no indexes. A tiny JSON reader/writer is
// included so the sample needs nothing but the SDK and the standard library.
#include <cumulo/sdk.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <locale>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::Error;
using cumulo::sdk::RtdbAdapter;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

[[noreturn]] void invalid(const std::string& msg) { throw Error(CM_INVALID, msg); }

// ---- just enough JSON ---------------------------------------------------------

struct Value {
  enum Kind { Null, Bool, Num, Str, Arr, Obj } kind = Null;
  bool b = false;
  double n = 0;
  std::string s;                  // a string, or a number's original text
  std::vector<Value> items;       // array elements, or object member values
  std::vector<std::string> keys;  // object member names (unique)

  Value() = default;
  explicit Value(Kind k, std::string str = {}) : kind(k), s(std::move(str)) {}

  const Value* member(std::string_view k) const {
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == k) return &items[i];
    return nullptr;
  }
  void set(const std::string& k, Value v) {
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == k) {
        items[i] = std::move(v);
        return;
      }
    keys.push_back(k);
    items.push_back(std::move(v));
  }
  void erase(std::string_view k) {
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == k) {
        keys.erase(keys.begin() + static_cast<ptrdiff_t>(i));
        items.erase(items.begin() + static_cast<ptrdiff_t>(i));
        return;
      }
  }
};

bool operator==(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Null: return true;
    case Value::Bool: return a.b == b.b;
    case Value::Num: return a.n == b.n;
    case Value::Str: return a.s == b.s;
    case Value::Arr: return a.items == b.items;
    case Value::Obj:
      if (a.keys.size() != b.keys.size()) return false;
      for (size_t i = 0; i < a.keys.size(); ++i)
        if (const Value* o = b.member(a.keys[i]); !o || !(*o == a.items[i])) return false;
      return true;
  }
  return false;
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  // The whole text as one value, or nullopt.
  std::optional<Value> parse() {
    Value v;
    if (!value(v, 0)) return std::nullopt;
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool hex4(uint32_t& cp) {
    if (i_ + 4 > s_.size()) return false;
    auto r = std::from_chars(s_.data() + i_, s_.data() + i_ + 4, cp, 16);
    if (r.ptr != s_.data() + i_ + 4) return false;
    i_ += 4;
    return true;
  }
  bool string(std::string& out) {
    if (!lit("\"")) return false;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      if (e != 'u') {
        const char* from = "\"\\/bfnrt";
        const char* to = "\"\\/\b\f\n\r\t";
        auto p = std::string_view(from).find(e);
        if (p == std::string_view::npos) return false;
        out += to[p];
        continue;
      }
      uint32_t cp;
      if (!hex4(cp)) return false;
      if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair makes one code point
        uint32_t lo;
        if (!lit("\\u") || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return false;
      }
      if (cp < 0x80) out += char(cp);
      else if (cp < 0x800) out += {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
      else if (cp < 0x10000) out += {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
      else out += {char(0xF0 | (cp >> 18)), char(0x80 | ((cp >> 12) & 0x3F)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
    }
    return false;
  }
  bool value(Value& v, int depth) {
    ws();
    if (i_ >= s_.size() || depth > 256) return false;
    char c = s_[i_];
    if (c == '"') return v.kind = Value::Str, string(v.s);
    if (lit("null")) return true;
    if (lit("true") || lit("false")) {
      v.kind = Value::Bool;
      v.b = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u';  // "true" ends in "ue", "false" in "se"
      return true;
    }
    if (c == '[' || c == '{') {
      v.kind = c == '[' ? Value::Arr : Value::Obj;
      ++i_;
      ws();
      if (lit(c == '[' ? "]" : "}")) return true;
      for (;;) {
        std::string k;
        if (v.kind == Value::Obj) {
          ws();
          if (!string(k)) return false;
          ws();
          if (!lit(":")) return false;
        }
        Value item;
        if (!value(item, depth + 1)) return false;
        if (v.kind == Value::Obj) v.set(k, std::move(item));  // a repeated name: the last one wins
        else v.items.push_back(std::move(item));
        ws();
        if (lit(",")) continue;
        return lit(v.kind == Value::Arr ? "]" : "}");
      }
    }
    // -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
    size_t start = i_;
    auto digits = [&] {
      size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ > from;
    };
    lit("-");
    if (lit("0")) {
    } else if (!digits()) {
      return false;
    }
    if (lit(".") && !digits()) return false;
    if (lit("e") || lit("E")) {
      if (!lit("+")) lit("-");
      if (!digits()) return false;
    }
    v.kind = Value::Num;
    v.s = std::string(s_.substr(start, i_ - start));
    std::istringstream in(v.s);  // not from_chars: libc++ 14 has no floating-point overloads
    in.imbue(std::locale::classic());
    return static_cast<bool>(in >> v.n);
  }

  std::string_view s_;
  size_t i_ = 0;
};

void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += {'\\', c};
    else if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out += {'\\', 'u', '0', '0', hex[(c >> 4) & 0xF], hex[c & 0xF]};
    } else out += c;
  }
  out += '"';
}

void write(std::string& out, const Value& v) {
  switch (v.kind) {
    case Value::Null: out += "null"; break;
    case Value::Bool: out += v.b ? "true" : "false"; break;
    case Value::Num: out += v.s; break;
    case Value::Str: write_string(out, v.s); break;
    case Value::Arr:
    case Value::Obj:
      out += v.kind == Value::Arr ? '[' : '{';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        if (v.kind == Value::Obj) write_string(out, v.keys[i]), out += ':';
        write(out, v.items[i]);
      }
      out += v.kind == Value::Arr ? ']' : '}';
  }
}
std::string text(const Value& v) {
  std::string out;
  write(out, v);
  return out;
}

// RFC 7386 merge patch: objects merge member by member, null removes.
void merge(Value& target, const Value& patch) {
  if (patch.kind != Value::Obj) {
    target = patch;
    return;
  }
  if (target.kind != Value::Obj) target = Value{Value::Obj};
  for (size_t i = 0; i < patch.keys.size(); ++i) {
    if (patch.items[i].kind == Value::Null) {
      target.erase(patch.keys[i]);
      continue;
    }
    Value cur = target.member(patch.keys[i]) ? *target.member(patch.keys[i]) : Value{};
    merge(cur, patch.items[i]);
    target.set(patch.keys[i], std::move(cur));
  }
}

// ---- paths ----------------------------------------------------------------------

bool utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!n || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
    i += n;
  }
  return true;
}

void check_db(std::string_view db) {
  if (db.empty() || db.size() > 1024 || !utf8(db) || db.find('\0') != std::string_view::npos)
    invalid("database id must be 1-1024 bytes of UTF-8 without NUL");
}

// Splits a path of 1-1024-byte UTF-8 segments; `document` wants an even count.
std::pair<std::string, std::string> split(std::string_view path, bool document) {
  if (path.empty() || path.size() > 4096 || !utf8(path) || path.find('\0') != std::string_view::npos)
    invalid("path must be 1-4096 bytes of UTF-8 without NUL");
  size_t count = 0;
  for (size_t start = 0;; ++count) {
    size_t slash = path.find('/', start);
    size_t len = (slash == std::string_view::npos ? path.size() : slash) - start;
    if (len == 0 || len > 1024) invalid("path '" + std::string(path.substr(0, 60)) + "' has an empty or over-long (> 1024 bytes) segment");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if ((count % 2 == 1) != document) invalid(document ? "a document path is coll/doc[/coll/doc…]" : "a collection path is coll[/doc/coll…]");
  if (!document) return {std::string(path), ""};
  size_t slash = path.rfind('/');
  return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

// ---- queries ----------------------------------------------------------------------

const Value* field_of(const Value& doc, const std::string& name) {
  const Value* cur = &doc;
  for (size_t start = 0; cur;) {  // "a.b" walks into nested objects
    size_t dot = name.find('.', start);
    cur = cur->kind == Value::Obj ? cur->member(std::string_view(name).substr(start, dot == std::string::npos ? std::string::npos : dot - start)) : nullptr;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
  return nullptr;
}

int rank(const Value& v) { return v.kind == Value::Obj ? Value::Arr : v.kind; }

int compare_same(const Value& a, const Value& b) {
  switch (a.kind) {
    case Value::Null: return 0;
    case Value::Bool: return int(a.b) - int(b.b);
    case Value::Num: return (a.n > b.n) - (a.n < b.n);
    case Value::Str: return a.s.compare(b.s) < 0 ? -1 : a.s == b.s ? 0 : 1;
    default: {
      std::string x = text(a), y = text(b);
      return x < y ? -1 : x == y ? 0 : 1;
    }
  }
}

// Missing (nullptr) < null < booleans < numbers < strings < arrays/objects.
int compare(const Value* a, const Value* b) {
  if (!a || !b) return int(a != nullptr) - int(b != nullptr);
  return rank(*a) != rank(*b) ? (rank(*a) < rank(*b) ? -1 : 1) : compare_same(*a, *b);
}

bool has(const Value& arr, const Value& v) { return std::find(arr.items.begin(), arr.items.end(), v) != arr.items.end(); }

struct Cond {
  std::string field, op;  // op: "$eq" … in the "$" spelling
  Value arg;
  bool matches(const Value& doc) const {
    const Value* v = field_of(doc, field);
    bool ordered = v && rank(*v) == rank(arg);
    int c = ordered ? compare_same(*v, arg) : 0;
    bool arr = v && v->kind == Value::Arr;
    bool sub = v && v->kind == Value::Str && arg.kind == Value::Str && v->s.find(arg.s) != std::string::npos;
    if (op == "$eq") return v && *v == arg;
    if (op == "$ne") return !v || !(*v == arg);
    if (op == "$gt") return ordered && c > 0;
    if (op == "$gte") return ordered && c >= 0;
    if (op == "$lt") return ordered && c < 0;
    if (op == "$lte") return ordered && c <= 0;
    if (op == "$in") return v && has(arg, *v);
    if (op == "$nin") return !v || !has(arg, *v);
    if (op == "$contains") return (arr && has(*v, arg)) || sub;
    if (op == "arrayContains") return arr && has(*v, arg);
    if (op == "contains") return sub;
    if (op == "$containsAny") return arr && std::any_of(arg.items.begin(), arg.items.end(), [&](const Value& x) { return has(*v, x); });
    return arr && std::all_of(arg.items.begin(), arg.items.end(), [&](const Value& x) { return has(*v, x); });  // $containsAll
  }
};

// The wire's operator names (realtime.md) map onto ours.
std::optional<std::string> op_name(const std::string& k) {
  static const std::map<std::string, std::string> m = {
      {"$eq", "$eq"}, {"equals", "$eq"}, {"$ne", "$ne"}, {"notEquals", "$ne"}, {"$gt", "$gt"}, {"greaterThan", "$gt"}, {"$gte", "$gte"},
      {"greaterThanOrEqual", "$gte"}, {"$lt", "$lt"}, {"lessThan", "$lt"}, {"$lte", "$lte"}, {"lessThanOrEqual", "$lte"}, {"$in", "$in"},
      {"inArray", "$in"}, {"$nin", "$nin"}, {"notInArray", "$nin"}, {"$contains", "$contains"}, {"arrayContains", "arrayContains"},
      {"contains", "contains"}, {"$containsAny", "$containsAny"}, {"arrayContainsAny", "$containsAny"}, {"$containsAll", "$containsAll"},
      {"arrayContainsAll", "$containsAll"}};
  auto it = m.find(k);
  return it == m.end() ? std::nullopt : std::optional<std::string>(it->second);
}

bool whole_number(const Value& v) { return v.kind == Value::Num && v.s.find_first_not_of("0123456789") == std::string::npos; }

struct Query {
  std::vector<Cond> conds;
  std::vector<std::pair<std::string, bool>> sort;  // field, descending
  size_t limit = SIZE_MAX, offset = 0;
  std::optional<Value> after;  // cursor: [[key] or [] per sort field…, id]

  explicit Query(std::string_view q) {
    auto parsed = Reader(q.empty() ? "{}" : q).parse();
    if (!parsed || parsed->kind != Value::Obj) invalid("query must be a JSON object {filter, sort, limit, offset, cursor}");
    for (size_t i = 0; i < parsed->keys.size(); ++i) {
      const std::string& k = parsed->keys[i];
      const Value& v = parsed->items[i];
      if (k == "filter") filter(v);
      else if (k == "sort") sorting(v);
      else if (k == "limit" && whole_number(v) && v.n >= 1) limit = static_cast<size_t>(std::min(v.n, 1e15));
      else if (k == "offset" && whole_number(v)) offset = static_cast<size_t>(std::min(v.n, 1e15));
      else if (k == "cursor" && v.kind == Value::Null) continue;
      else if (k == "cursor" && v.kind == Value::Str && (after = Reader(v.s).parse())) continue;
      else if (k != "explain") invalid("bad or unknown query member \"" + k + "\" (filter, sort, limit ≥ 1, offset, cursor from this adapter)");
    }
    if (after && (after->kind != Value::Arr || after->items.size() != sort.size() + 1 || after->items.back().kind != Value::Str))
      invalid("\"cursor\" is not a cursor of this query");
  }
  void filter(const Value& f) {
    if (f.kind != Value::Obj) invalid("\"filter\" must be an object {field: value | {operator: value}}");
    for (size_t i = 0; i < f.keys.size(); ++i) {
      const Value& c = f.items[i];
      if (f.keys[i].empty()) invalid("filter field name is empty");
      bool ops = c.kind == Value::Obj && !c.keys.empty();
      for (const auto& k : c.keys) {
        if (!op_name(k) && k[0] == '$') invalid("unknown filter operator '" + k + "' on field '" + f.keys[i] + "'");
        ops = ops && op_name(k);
      }
      if (!ops) {
        conds.push_back({f.keys[i], "$eq", c});
        continue;
      }
      for (size_t j = 0; j < c.keys.size(); ++j) {
        std::string op = *op_name(c.keys[j]);
        if ((op == "$in" || op == "$nin" || op == "$containsAny" || op == "$containsAll") && c.items[j].kind != Value::Arr)
          invalid("filter operator '" + c.keys[j] + "' on field '" + f.keys[i] + "' needs an array");
        conds.push_back({f.keys[i], op, c.items[j]});
      }
    }
  }
  void sorting(const Value& s) {
    if (s.kind != Value::Arr) invalid("\"sort\" must be an array of {\"field\", \"dir\": \"asc\"|\"desc\"}");
    for (const auto& e : s.items) {
      const Value* f = e.kind == Value::Obj ? e.member("field") : nullptr;
      if (!f || f->kind != Value::Str || f->s.empty()) invalid("every sort entry needs a non-empty string \"field\"");
      bool desc = false;
      for (size_t j = 0; j < e.keys.size(); ++j) {
        const Value& v = e.items[j];
        if (e.keys[j] == "field") continue;
        if ((e.keys[j] == "dir" || e.keys[j] == "direction") && v.kind == Value::Str && (v.s == "asc" || v.s == "desc")) desc = v.s == "desc";
        else if (e.keys[j] == "ascending" && v.kind == Value::Bool) desc = !v.b;
        else invalid("sort entry for '" + f->s + "' needs \"dir\": \"asc\"|\"desc\" (or \"ascending\": bool)");
      }
      sort.emplace_back(f->s, desc);
    }
  }
  // The sort key of a document, shaped like a cursor.
  Value key_of(const std::string& id, const Value& doc) const {
    Value k{Value::Arr};
    for (const auto& [f, desc] : sort) {
      Value slot{Value::Arr};
      if (const Value* v = field_of(doc, f)) slot.items.push_back(*v);
      k.items.push_back(std::move(slot));
    }
    k.items.emplace_back(Value::Str, id);
    return k;
  }
  // Result order: the sort fields, then the id.
  bool less(const Value& a, const Value& b) const {
    for (size_t i = 0; i < sort.size(); ++i) {
      auto at = [&](const Value& k) { return k.items[i].items.empty() ? nullptr : &k.items[i].items[0]; };
      if (int c = compare(at(a), at(b))) return sort[i].second ? c > 0 : c < 0;
    }
    return a.items.back().s < b.items.back().s;
  }
};

// ---- the adapter ---------------------------------------------------------------

class HelloRtdb final : public RtdbAdapter {
 public:
  explicit HelloRtdb(std::string_view /*options_json: none needed*/) {}

  Status get(const Tenant& tn, std::string_view db, std::string_view path, const Sink& out) override {
    check_db(db);
    auto [coll, id] = split(path, true);
    std::string doc;
    {
      std::lock_guard lock(mu_);
      auto it = docs_.find(Key{tn.tn_id, std::string(db), coll, id});
      if (it == docs_.end()) return Status::NotFound("no document at this path");
      doc = text(it->second);
    }
    return emit(out, doc);
  }

  // The collection's direct children matching the filter, in sort order, one page.
  Status query(const Tenant& tn, std::string_view db, std::string_view coll_path, std::string_view query_json, const Sink& out) override {
    check_db(db);
    std::string coll = split(coll_path, false).first;
    Query q(query_json);
    std::vector<std::pair<Value, const Value*>> hits;  // (sort key, doc)
    std::lock_guard lock(mu_);
    for (auto it = docs_.lower_bound(Key{tn.tn_id, std::string(db), coll, ""});
         it != docs_.end() && std::get<0>(it->first) == tn.tn_id && std::get<1>(it->first) == db && std::get<2>(it->first) == coll; ++it) {
      if (!std::all_of(q.conds.begin(), q.conds.end(), [&](const Cond& c) { return c.matches(it->second); })) continue;
      Value key = q.key_of(std::get<3>(it->first), it->second);
      if (!q.after || q.less(*q.after, key)) hits.emplace_back(std::move(key), &it->second);
    }
    std::sort(hits.begin(), hits.end(), [&](const auto& a, const auto& b) { return q.less(a.first, b.first); });
    std::string page = "{\"docs\":[";
    size_t end = q.offset + std::min(q.limit, hits.size());
    for (size_t i = q.offset; i < end && i < hits.size(); ++i) {
      page += i > q.offset ? ",{\"id\":" : "{\"id\":";
      write(page, hits[i].first.items.back());
      page += ",\"data\":" + text(*hits[i].second) + "}";
    }
    page += "],\"cursor\":";
    if (end < hits.size()) write_string(page, text(hits[end - 1].first));  // the last doc of this page
    else page += "null";
    return emit(out, page + "}");
  }

  // Applies the batch to a staging copy under one lock; publishes it only if
  // every operation succeeded: all or nothing.
  Status transact(const Tenant& tn, std::string_view db, std::string_view ops_json, const Sink& out) override {
    check_db(db);
    auto ops = Reader(ops_json).parse();
    if (!ops || ops->kind != Value::Arr) invalid("operations must be a JSON array [{\"op\", \"path\", \"value\"?}, …]");
    std::lock_guard lock(mu_);
    std::map<Key, std::optional<Value>> staged;
    auto current = [&](const Key& k) -> const Value* {
      if (auto s = staged.find(k); s != staged.end()) return s->second ? &*s->second : nullptr;
      auto it = docs_.find(k);
      return it == docs_.end() ? nullptr : &it->second;
    };
    std::string results = "[";
    for (size_t i = 0; i < ops->items.size(); ++i) {
      const Value& op = ops->items[i];
      const std::string at = "op #" + std::to_string(i + 1) + ": ";
      const Value* kind = op.kind == Value::Obj ? op.member("op") : nullptr;
      const Value* path = op.kind == Value::Obj ? op.member("path") : nullptr;
      const Value* value = op.kind == Value::Obj ? op.member("value") : nullptr;
      if (!kind || kind->kind != Value::Str || !path || path->kind != Value::Str) invalid(at + "needs a string \"op\" and a string \"path\"");
      const std::string& k = kind->s;
      if (k != "set" && k != "update" && k != "delete" && k != "create") invalid(at + "unknown op '" + k + "' (set, update, delete, create)");
      if (k != "delete" && (!value || value->kind != Value::Obj)) invalid(at + k + " needs an object \"value\"");
      auto [coll, id] = split(path->s, k != "create");
      if (k == "create") {
        do id = new_id();
        while (current(Key{tn.tn_id, std::string(db), coll, id}));
      }
      Key key{tn.tn_id, std::string(db), coll, id};
      const Value* old = current(key);
      if ((k == "update" || k == "delete") && !old) throw Error(CM_NOT_FOUND, at + k + " of a missing document");
      if (k == "delete") {
        staged[key] = std::nullopt;
      } else if (k == "update") {
        Value doc = *old;
        merge(doc, *value);
        staged[key] = std::move(doc);
      } else {
        staged[key] = *value;
      }
      if (i) results += ',';
      if (k == "create") {
        results += "{\"id\":";
        write_string(results, id);
        results += '}';
      } else {
        results += "null";
      }
    }
    for (auto& [key, doc] : staged) {
      if (doc) docs_[key] = std::move(*doc);
      else docs_.erase(key);
    }
    return emit(out, results + "]");
  }

 private:
  using Key = std::tuple<uint32_t, std::string, std::string, std::string>;  // (tenant, db, collection, id)

  std::string new_id() {
    static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string id;
    for (int i = 0; i < 16; ++i) id += alphabet[rng_() % 62];
    return id;
  }

  static Status emit(const Sink& out, std::string_view s) {
    return out.write(s) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
  }

  std::mutex mu_;
  std::map<Key, Value> docs_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

CUMULO_PLUGIN("hello-rtdb", HELLO_VERSION, "Sample: JSON documents in memory", CM_KIND_RTDB) {
  reg.add<HelloRtdb>("hello-rtdb");
}
