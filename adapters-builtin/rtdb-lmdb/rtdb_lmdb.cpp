// rtdb-lmdb: path-addressed JSON documents on LMDB (shapes and limits: README.md).
//
// Named databases (every key starts with the tenant id, big-endian, so one
// tenant's keys are contiguous):
//   colls: <tn BE32><db len BE16><db><collection path>  → <coll no BE64><db len BE16><db><collection path>
//          (<tn><FF FF><SHA-256 of the same names> when that key would exceed 511 bytes)
//   docs:  <tn BE32><coll no BE64><id key>              → document JSON
//   idx:   <tn BE32><coll no BE64><field len BE8><field><sortable value><id key> → ""
//   meta:  "format", "next_coll", "indexes" (the index options the idx entries were built for)
// id key = the document id when ≤ 200 bytes, else its first 167 bytes, NUL, and
// the SHA-256 of the whole id (ids never contain NUL, so the two forms never
// meet). Such documents store "\0<id len BE16><id>" before their JSON and every
// lookup compares the full id: long ids are never truncated into each other.
//
// Writes take one mutex (LMDB allows one write transaction) and run a batch in
// one LMDB transaction, index entries included: all or nothing. Reads use their
// own read-only transactions (MDB_NOTLS) and run concurrently with everything.
// Committed changes reach subscribers after commit, in commit order.
//
// Portable tenant dump (ABI 1.1): "doc" items, k = db NUL collection NUL id,
// exported in that order bytewise. The catalog sorts databases by length and
// the docs by id key, so export lists the tenant's databases (one seek each),
// walks each database's collections in name order and re-sorts the rare
// groups of ids longer than the inline prefix (their keys are digests).
#include <cumulo/sdk.hpp>
#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lmdb_util.hpp"
#include "tenant_dump.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using cumulo::sdk::Error;
using cumulo::sdk::RtdbAdapter;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;
using cumulo::sdk::TenantDump;
using namespace cumulo::adapters::lmdb;

[[noreturn]] void lmdb_fail(const char* what, int rc) { cumulo::adapters::lmdb::fail("rtdb-lmdb", what, rc); }
namespace dump = cumulo::adapters::dump;

constexpr size_t kMaxName = 1024;          // a database id or one path segment
constexpr size_t kMaxPath = 4096;          // a whole path
constexpr size_t kMaxDoc = size_t{16} << 20;  // serialised document (the WebSocket message limit)
constexpr size_t kMaxKey = 511;            // LMDB's compiled-in key limit
constexpr size_t kInlineId = 200;          // longer ids are keyed by prefix + digest
constexpr size_t kIdPrefix = kInlineId - 1 - 32;
constexpr size_t kMaxEnc = 200;            // indexed values are cut here (then re-checked on the document)
constexpr size_t kMaxField = 64;
constexpr const char* kFormat = "rtdb-lmdb/2";

[[noreturn]] void invalid(const std::string& msg) { throw Error(CM_INVALID, msg); }

// ---- names and paths ----------------------------------------------------------


// Quotes a caller's string for an error message, shortened (messages are ≤ 480 bytes).
std::string shown(std::string_view s) {
  if (s.size() <= 60) return "'" + std::string(s) + "'";
  size_t cut = 60;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters only
  return "'" + std::string(s.substr(0, cut)) + "…' (" + std::to_string(s.size()) + " bytes)";
}

void check_name(const char* what, std::string_view s) {
  if (s.empty()) invalid(std::string(what) + " is empty");
  if (s.size() > kMaxName) invalid(std::string(what) + " is " + std::to_string(s.size()) + " bytes; the limit is 1024");
  if (!valid_utf8(s)) invalid(std::string(what) + " is not valid UTF-8");
  if (s.find('\0') != std::string_view::npos) invalid(std::string(what) + " contains NUL");
}

std::vector<std::string_view> split_path(std::string_view path) {
  if (path.empty()) invalid("path is empty");
  if (path.size() > kMaxPath) invalid("path is " + std::to_string(path.size()) + " bytes; the limit is 4096");
  if (!valid_utf8(path)) invalid("path is not valid UTF-8");
  std::vector<std::string_view> segs;
  for (size_t start = 0;;) {
    size_t slash = path.find('/', start);
    std::string_view seg = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty()) invalid("path " + shown(path) + " has an empty segment (leading, trailing or double '/')");
    if (seg.size() > kMaxName) invalid("path segment " + shown(seg) + " is longer than 1024 bytes");
    if (seg.find('\0') != std::string_view::npos) invalid("path contains NUL");
    segs.push_back(seg);
    if (slash == std::string_view::npos) return segs;
    start = slash + 1;
  }
}

// "coll/doc[/coll/doc…]" → (collection path, document id).
std::pair<std::string_view, std::string_view> doc_path(std::string_view path) {
  auto segs = split_path(path);
  if (segs.size() % 2) invalid(shown(path) + " is a collection path; a document path is coll/doc[/coll/doc…]");
  size_t slash = path.rfind('/');
  return {path.substr(0, slash), path.substr(slash + 1)};
}

void collection_path(std::string_view path) {
  if (split_path(path).size() % 2 == 0) invalid(shown(path) + " is a document path; a collection path is coll[/doc/coll…]");
}

// ---- keys ---------------------------------------------------------------------

std::string sha256(std::string_view s) {
  unsigned char md[32];
  unsigned len = 0;
  if (!EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr)) throw Error(CM_INTERNAL, "rtdb-lmdb: SHA-256 failed");
  return {reinterpret_cast<char*>(md), 32};
}

std::string be(uint64_t v, int bytes) {
  std::string s;
  put_be(s, v, bytes);
  return s;
}
uint64_t get_be(std::string_view s) {
  uint64_t v = 0;
  for (unsigned char c : s) v = (v << 8) | c;
  return v;
}

std::string id_key(std::string_view id) {
  if (id.size() <= kInlineId) return std::string(id);
  return std::string(id.substr(0, kIdPrefix)) + '\0' + sha256(id);
}

std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// A stored document: the JSON text, and the full id when its key is a digest.
struct Stored {
  std::string_view id_header;  // empty for inline ids
  std::string_view text;
};
Stored split_stored(std::string_view v) {
  if (v.empty() || v[0] != '\0') return {{}, v};
  size_t n = get_be(v.substr(1, 2));
  return {v.substr(3, n), v.substr(3 + n)};
}

// ---- order-preserving encoding of values for index keys ------------------------
// missing < null < false < true < numbers < strings < arrays/objects (by their
// JSON text), the same order as compare() below. Strings escape NUL as 00 FF and
// end with 00 00, or 00 01 when cut at kMaxEnc bytes.

enum Tag : char { kMissing = 1, kNull, kFalse, kTrue, kNumber, kString, kComposite };

void enc_bytes(std::string& out, std::string_view s) {
  size_t budget = kMaxEnc;
  for (char c : s) {
    size_t need = c == '\0' ? 2 : 1;
    if (need > budget) {
      out += std::string_view("\0\1", 2);
      return;
    }
    budget -= need;
    out += c;
    if (c == '\0') out += '\xff';
  }
  out += std::string_view("\0\0", 2);
}

std::string enc(const json* v) {
  std::string out;
  if (!v) out += kMissing;
  else if (v->is_null()) out += kNull;
  else if (v->is_boolean()) out += v->get<bool>() ? kTrue : kFalse;
  else if (v->is_number()) {
    out += kNumber;
    double d = v->get<double>();
    if (d == 0) d = 0;  // -0 equals 0
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    put_be(out, (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63), 8);
  } else if (v->is_string()) {
    out += kString;
    enc_bytes(out, v->get_ref<const std::string&>());
  } else {
    out += kComposite;
    enc_bytes(out, v->dump());
  }
  return out;
}

// Length of the encoded value at the start of `k`.
size_t enc_len(std::string_view k) {
  if (k.empty()) throw Error(CM_INTERNAL, "rtdb-lmdb: corrupt index key");
  if (k[0] == kNumber) return 9;
  if (k[0] != kString && k[0] != kComposite) return 1;
  for (size_t i = 1; i + 1 < k.size(); ++i)
    if (k[i] == '\0') {
      if (k[i + 1] != '\xff') return i + 2;
      ++i;
    }
  throw Error(CM_INTERNAL, "rtdb-lmdb: corrupt index key");
}

// ---- values: lookup, comparison, filters --------------------------------------

const json* field_of(const json& doc, const std::string& name) {
  const json* cur = &doc;
  for (size_t start = 0;;) {  // "a.b" walks into nested objects
    size_t dot = name.find('.', start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

int rank(const json& v) { return v.is_null() ? 0 : v.is_boolean() ? 1 : v.is_number() ? 2 : v.is_string() ? 3 : 4; }

int sign(int c) { return (c > 0) - (c < 0); }

// Values of the same rank.
int compare_same(const json& a, const json& b) {
  switch (rank(a)) {
    case 0: return 0;
    case 1: return int(a.get<bool>()) - int(b.get<bool>());
    case 2: return a < b ? -1 : b < a ? 1 : 0;
    case 3: return sign(a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>()));
    default: return sign(a.dump().compare(b.dump()));
  }
}

// Sort order of field values; a missing field (nullopt) sorts first.
int compare(const std::optional<json>& a, const std::optional<json>& b) {
  if (!a || !b) return int(bool(a)) - int(bool(b));
  int ra = rank(*a), rb = rank(*b);
  return ra != rb ? (ra < rb ? -1 : 1) : compare_same(*a, *b);
}

enum class Op { Eq, Ne, Gt, Gte, Lt, Lte, In, Nin, Contains, ArrayContains, StrContains, ContainsAny, ContainsAll };

// Both spellings: ours ($…) and the RTDB wire's (realtime.md §2.2).
const std::map<std::string, Op, std::less<>>& operators() {
  static const std::map<std::string, Op, std::less<>> ops = {
      {"$eq", Op::Eq}, {"equals", Op::Eq}, {"$ne", Op::Ne}, {"notEquals", Op::Ne}, {"$gt", Op::Gt}, {"greaterThan", Op::Gt},
      {"$gte", Op::Gte}, {"greaterThanOrEqual", Op::Gte}, {"$lt", Op::Lt}, {"lessThan", Op::Lt}, {"$lte", Op::Lte},
      {"lessThanOrEqual", Op::Lte}, {"$in", Op::In}, {"inArray", Op::In}, {"$nin", Op::Nin}, {"notInArray", Op::Nin},
      {"$contains", Op::Contains}, {"arrayContains", Op::ArrayContains}, {"contains", Op::StrContains},
      {"$containsAny", Op::ContainsAny}, {"arrayContainsAny", Op::ContainsAny}, {"$containsAll", Op::ContainsAll},
      {"arrayContainsAll", Op::ContainsAll}};
  return ops;
}

struct Cond {
  std::string field;
  Op op;
  json arg;
};

bool has(const json& arr, const json& v) { return std::find(arr.begin(), arr.end(), v) != arr.end(); }

bool matches(const json& doc, const Cond& c) {
  const json* v = field_of(doc, c.field);
  auto ordered = [&](auto pred) { return v && rank(*v) == rank(c.arg) && pred(compare_same(*v, c.arg)); };
  auto substring = [&] { return v->is_string() && c.arg.is_string() && v->get_ref<const std::string&>().find(c.arg.get_ref<const std::string&>()) != std::string::npos; };
  switch (c.op) {
    case Op::Eq: return v && *v == c.arg;
    case Op::Ne: return !v || *v != c.arg;
    case Op::Gt: return ordered([](int r) { return r > 0; });
    case Op::Gte: return ordered([](int r) { return r >= 0; });
    case Op::Lt: return ordered([](int r) { return r < 0; });
    case Op::Lte: return ordered([](int r) { return r <= 0; });
    case Op::In: return v && has(c.arg, *v);
    case Op::Nin: return !v || !has(c.arg, *v);
    case Op::Contains: return v && ((v->is_array() && has(*v, c.arg)) || substring());
    case Op::ArrayContains: return v && v->is_array() && has(*v, c.arg);
    case Op::StrContains: return v && substring();
    case Op::ContainsAny: return v && v->is_array() && std::any_of(c.arg.begin(), c.arg.end(), [&](const json& x) { return has(*v, x); });
    case Op::ContainsAll: return v && v->is_array() && std::all_of(c.arg.begin(), c.arg.end(), [&](const json& x) { return has(*v, x); });
  }
  return false;
}

// ---- queries ------------------------------------------------------------------

std::string b64url(std::string_view in) {
  static constexpr char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    for (bits += 8; bits >= 6; bits -= 6) out += a[(acc >> (bits - 6)) & 63];
  }
  if (bits) out += a[(acc << (6 - bits)) & 63];
  return out;
}
std::optional<std::string> unb64url(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ? 62 : c == '_' ? 63 : -1;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    if ((bits += 6) >= 8) out += char((acc >> (bits -= 8)) & 0xff);
  }
  return out;
}

struct SortKey {
  std::string field;
  bool desc = false;
};

// One result candidate. `text` points into the read transaction's memory map.
struct Entry {
  std::string id;
  std::vector<std::optional<json>> keys;
  std::string_view text;
};

struct Query {
  std::vector<Cond> conds;
  std::vector<SortKey> sort;
  std::optional<size_t> limit;
  size_t offset = 0;
  std::optional<Entry> after;  // from the cursor
  bool explain = false;

  // Result order: the sort fields, then the document id (a total order, so pages never overlap).
  bool less(const Entry& a, const Entry& b) const {
    for (size_t i = 0; i < sort.size(); ++i)
      if (int c = compare(a.keys[i], b.keys[i])) return sort[i].desc ? c > 0 : c < 0;
    return a.id < b.id;
  }
  bool passes(const json& doc) const {
    return std::all_of(conds.begin(), conds.end(), [&](const Cond& c) { return matches(doc, c); });
  }
  std::vector<std::optional<json>> keys_of(const json& doc) const {
    std::vector<std::optional<json>> k;
    for (const auto& s : sort) {
      const json* v = field_of(doc, s.field);
      k.push_back(v ? std::optional<json>(*v) : std::nullopt);
    }
    return k;
  }
  std::string cursor_of(const Entry& e) const {
    json c = json::array();
    for (const auto& k : e.keys) c.push_back(k ? json::array({*k}) : json::array());
    c.push_back(e.id);
    return b64url(c.dump());
  }
};

Query parse_query(std::string_view text) {
  json q = text.empty() ? json::object() : json::parse(text, nullptr, false);
  if (q.is_discarded() || !q.is_object()) invalid("query must be a JSON object {filter, sort, limit, offset, cursor}");
  Query out;
  for (auto& [key, v] : q.items()) {
    if (key == "filter") {
      if (!v.is_object()) invalid("\"filter\" must be an object {field: value | {operator: value}}");
      for (auto& [name, cond] : v.items()) {
        if (name.empty()) invalid("filter field name is empty");
        // An object is an operator object when it uses "$" keys (all must be
        // known) or consists of wire operator names only; else it is a value.
        bool ops = false;
        if (cond.is_object() && !cond.empty()) {
          ops = true;
          for (auto& [op, arg] : cond.items()) {
            bool known = operators().count(op) > 0;
            if (!known && op[0] == '$') invalid("unknown filter operator '" + op + "' on field '" + name + "'");
            ops = ops && known;
          }
        }
        if (!ops) {
          out.conds.push_back({name, Op::Eq, cond});
          continue;
        }
        for (auto& [op, arg] : cond.items()) {
          Op o = operators().find(op)->second;
          if ((o == Op::In || o == Op::Nin || o == Op::ContainsAny || o == Op::ContainsAll) && !arg.is_array())
            invalid("filter operator '" + op + "' on field '" + name + "' needs an array");
          out.conds.push_back({name, o, arg});
        }
      }
    } else if (key == "sort") {
      if (!v.is_array()) invalid("\"sort\" must be an array of {\"field\", \"dir\": \"asc\"|\"desc\"}");
      for (auto& s : v) {
        if (!s.is_object() || !s.contains("field") || !s["field"].is_string() || s["field"].get_ref<const std::string&>().empty())
          invalid("every sort entry needs a non-empty string \"field\"");
        SortKey k{s["field"].get<std::string>(), false};
        for (auto& [sk, sv] : s.items()) {
          if (sk == "field") continue;
          if ((sk == "dir" || sk == "direction") && sv.is_string() && (sv == "asc" || sv == "desc")) k.desc = sv == "desc";
          else if (sk == "ascending" && sv.is_boolean()) k.desc = !sv.get<bool>();
          else invalid("sort entry for '" + k.field + "': \"" + sk + "\" must be \"dir\": \"asc\"|\"desc\" (or \"ascending\": bool)");
        }
        out.sort.push_back(std::move(k));
      }
    } else if (key == "limit") {
      if (!v.is_number_unsigned() || v.get<uint64_t>() == 0) invalid("\"limit\" must be a positive integer");
      out.limit = v.get<size_t>();
    } else if (key == "offset") {
      if (!v.is_number_unsigned()) invalid("\"offset\" must be a non-negative integer");
      out.offset = v.get<size_t>();
    } else if (key == "cursor") {
      if (v.is_null()) continue;
      auto raw = v.is_string() ? unb64url(v.get_ref<const std::string&>()) : std::nullopt;
      json c = raw ? json::parse(*raw, nullptr, false) : json();
      if (!c.is_array() || c.empty() || !c.back().is_string()) invalid("\"cursor\" is not a cursor returned by this adapter");
      out.after = Entry{c.back().get<std::string>(), {}, {}};
      for (size_t i = 0; i + 1 < c.size(); ++i) {
        if (!c[i].is_array() || c[i].size() > 1) invalid("\"cursor\" is not a cursor returned by this adapter");
        out.after->keys.push_back(c[i].empty() ? std::nullopt : std::optional<json>(c[i][0]));
      }
    } else if (key == "explain") {
      out.explain = v.is_boolean() && v.get<bool>();
    } else {
      invalid("unknown query member \"" + key + "\" (filter, sort, limit, offset, cursor)");
    }
  }
  if (out.after && out.after->keys.size() != out.sort.size()) invalid("\"cursor\" belongs to a query with another sort");
  return out;
}

// Collects the page: offset, limit, and whether anything follows.
class Page {
 public:
  explicit Page(const Query& q) : q_(q), skip_(q.offset) {}
  // Candidates must arrive in result order (after the cursor). Returns true when the page is full.
  bool push(Entry&& e) {
    if (skip_) {
      --skip_;
      return false;
    }
    if (q_.limit && docs_.size() == *q_.limit) return more_ = true;
    docs_.push_back(std::move(e));
    return false;
  }
  // Unordered candidates: keeps what the page needs, in order.
  void take_all(std::vector<Entry>& hits) {
    std::vector<size_t> idx(hits.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    auto by = [&](size_t a, size_t b) { return q_.less(hits[a], hits[b]); };
    size_t want = q_.limit ? std::min(hits.size(), q_.offset + *q_.limit + 1) : hits.size();
    std::partial_sort(idx.begin(), idx.begin() + static_cast<ptrdiff_t>(want), idx.end(), by);
    for (size_t i = 0; i < want; ++i)
      if (push(std::move(hits[idx[i]]))) break;
  }
  std::string render(const std::string& plan) const {
    std::string out = "{\"docs\":[";
    for (size_t i = 0; i < docs_.size(); ++i) {
      out += i ? ",{\"id\":" : "{\"id\":";
      out += json(docs_[i].id).dump();
      out += ",\"data\":";
      out += docs_[i].text;  // stored JSON, written as is
      out += '}';
    }
    out += "],\"cursor\":";
    out += more_ && !docs_.empty() ? json(q_.cursor_of(docs_.back())).dump() : "null";
    if (q_.explain) out += ",\"plan\":" + json(plan).dump();
    out += '}';
    return out;
  }

 private:
  const Query& q_;
  size_t skip_;
  bool more_ = false;
  std::vector<Entry> docs_;
};

// ---- the adapter --------------------------------------------------------------

struct Subscription {
  uint32_t tn;
  std::string db, prefix;
  bool raw;  // prefix ends with '/' (or is empty): plain string prefix
  cm_rtdb_change_fn fn;
  void* ctx;
  std::atomic<bool> active{true};
  bool covers(const std::string& path) const {
    if (path.compare(0, prefix.size(), prefix) != 0) return false;
    return raw || path.size() == prefix.size() || path[prefix.size()] == '/';  // "items" never matches "itemsX/…"
  }
};

// LMDB must not open one environment twice in a process (the second open
// would reset the lock file under the first): refuse it loudly.
std::mutex& open_mu() {
  static std::mutex mu;
  return mu;
}
std::set<std::string>& open_dirs() {
  static std::set<std::string> dirs;
  return dirs;
}

class LmdbRtdb : public RtdbAdapter, public TenantDump {
 public:
  explicit LmdbRtdb(std::string_view options) {
    json j = json::parse(options, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("dir") || !j["dir"].is_string())
      invalid("rtdb-lmdb: options need {\"dir\": \"/abs/path\", \"mapSize\"?: bytes, \"indexes\"?: {collection: [field, …]}}");
    size_t map_size = size_t{1} << 30;
    for (auto& [k, v] : j.items()) {
      if (k == "dir") continue;
      if (k == "mapSize") {
        if (!v.is_number_unsigned() || v.get<uint64_t>() < (uint64_t{1} << 20)) invalid("rtdb-lmdb: \"mapSize\" must be an integer ≥ 1048576");
        map_size = v.get<size_t>();
      } else if (k == "indexes") {
        if (!v.is_object()) invalid("rtdb-lmdb: \"indexes\" must map a collection to [field, …]");
        for (auto& [coll, fields] : v.items()) {
          if (coll.empty() || !fields.is_array()) invalid("rtdb-lmdb: \"indexes\": '" + coll + "' must map to an array of field names");
          for (auto& f : fields) {
            if (!f.is_string() || f.get_ref<const std::string&>().empty() || f.get_ref<const std::string&>().size() > kMaxField)
              invalid("rtdb-lmdb: \"indexes\": fields of '" + coll + "' must be names of 1-64 bytes");
            auto& list = indexes_[coll];
            if (std::find(list.begin(), list.end(), f.get<std::string>()) == list.end()) list.push_back(f.get<std::string>());
          }
        }
      } else {
        invalid("rtdb-lmdb: unknown option \"" + k + "\" (dir, mapSize, indexes)");
      }
    }
    fs::path dir = j["dir"].get<std::string>();
    if (!dir.is_absolute()) invalid("rtdb-lmdb: \"dir\" must be an absolute path");
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::path canon = fs::weakly_canonical(dir, ec);
    dir_ = ec ? dir.string() : canon.string();
    {
      std::lock_guard lk(open_mu());
      if (!open_dirs().insert(dir_).second) throw Error(CM_CONFLICT, "rtdb-lmdb: " + dir_ + " is already open in this process (LMDB allows one environment per directory)");
    }
    try {
      env_ = open_env(dir_, map_size, "rtdb-lmdb");
      open_databases();
    } catch (...) {
      if (env_) mdb_env_close(env_);
      std::lock_guard lk(open_mu());
      open_dirs().erase(dir_);
      throw;
    }
  }

  ~LmdbRtdb() override {
    mdb_env_close(env_);
    std::lock_guard lk(open_mu());
    open_dirs().erase(dir_);
  }

  Status health() override {
    Txn t(env_, false);
    return Status::Ok();
  }

  Status get(const Tenant& tn, std::string_view db, std::string_view path, const Sink& out) override {
    check_name("database id", db);
    auto [coll, id] = doc_path(path);
    Txn t(env_, false);
    auto no = find_coll(t.get(), tn.tn_id, db, coll);
    auto doc = no ? stored(t.get(), tn.tn_id, *no, id) : std::nullopt;
    if (!doc) return Status::NotFound("no document at " + shown(path));
    if (!out.write(doc->text)) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

  Status query(const Tenant& tn, std::string_view db, std::string_view coll, std::string_view query_json, const Sink& out) override {
    check_name("database id", db);
    collection_path(coll);
    const Query q = parse_query(query_json);
    Page page(q);
    std::string plan = "scan";
    Txn t(env_, false);
    if (auto no = find_coll(t.get(), tn.tn_id, db, coll)) {
      const auto* fields = fields_for(coll);
      auto indexed = [&](const std::string& f) { return fields && std::find(fields->begin(), fields->end(), f) != fields->end(); };
      std::vector<std::pair<std::string, std::string>> ranges;  // [from, to) over encoded values
      std::string field;
      for (const auto& c : q.conds)
        if (indexed(c.field) && ranges_for(q, c.field, ranges)) {
          field = c.field;
          break;
        }
      if (!field.empty()) {
        plan = "index:" + field;
        auto hits = candidates(t.get(), tn.tn_id, *no, field, ranges, q);
        page.take_all(hits);
      } else if (!q.sort.empty() && indexed(q.sort[0].field)) {
        plan = "index-order:" + q.sort[0].field;
        ordered_scan(t.get(), tn.tn_id, *no, q, page);
      } else {
        auto hits = scan(t.get(), tn.tn_id, *no, q);
        page.take_all(hits);
      }
    }
    if (!out.write(page.render(plan))) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

  Status transact(const Tenant& tn, std::string_view db, std::string_view ops_json, const Sink& out) override {
    check_name("database id", db);
    json ops;
    try {
      ops = json::parse(ops_json);
    } catch (const json::parse_error& e) {
      invalid("operations are not valid JSON (error at byte " + std::to_string(e.byte) + ")");
    }
    if (!ops.is_array()) invalid("operations must be a JSON array [{\"op\", \"path\", \"value\"?}, …]");
    // Check every operation before touching storage: a bad batch fails as a whole with a precise message.
    for (size_t i = 0; i < ops.size(); ++i) check_op(ops[i], i);

    json results = json::array();
    std::unique_lock wl(write_mu_);
    const bool feed = has_subs_.load();
    std::vector<json> changes;
    Txn t(env_, true);
    for (size_t i = 0; i < ops.size(); ++i) {
      const json& op = ops[i];
      const std::string& kind = op["op"].get_ref<const std::string&>();
      const std::string& path = op["path"].get_ref<const std::string&>();
      const std::string at = "op #" + std::to_string(i + 1) + ": ";
      if (kind == "create") {
        uint64_t no = coll_no(t.get(), tn.tn_id, db, path, true).value();
        std::string id = new_id();
        while (stored(t.get(), tn.tn_id, no, id)) id = new_id();  // a repeat of 96 random bits: practically never
        write_doc(t.get(), tn.tn_id, no, path, id, nullptr, &op["value"], at);
        results.push_back({{"id", id}});
        if (feed) changes.push_back({{"op", "create"}, {"path", path + "/" + id}, {"value", op["value"]}});
        continue;
      }
      auto [coll, id] = doc_path(path);
      auto no = coll_no(t.get(), tn.tn_id, db, coll, kind == "set");
      std::optional<json> old;
      if (no && (kind != "set" || fields_for(coll))) old = read_doc(t.get(), tn.tn_id, *no, id);
      if (kind == "set") {
        write_doc(t.get(), tn.tn_id, *no, coll, id, old ? &*old : nullptr, &op["value"], at);
        if (feed) changes.push_back({{"op", "set"}, {"path", path}, {"value", op["value"]}});
      } else if (!old) {
        throw Error(CM_NOT_FOUND, at + kind + " of a missing document " + shown(path));
      } else if (kind == "update") {
        json doc = *old;
        doc.merge_patch(op["value"]);  // RFC 7386: objects merge, null removes a field
        write_doc(t.get(), tn.tn_id, *no, coll, id, &*old, &doc, at);
        if (feed) changes.push_back({{"op", "update"}, {"path", path}, {"value", std::move(doc)}});
      } else {
        write_doc(t.get(), tn.tn_id, *no, coll, id, &*old, nullptr, at);
        if (feed) changes.push_back({{"op", "delete"}, {"path", path}});
      }
      results.push_back(nullptr);
    }
    if (int rc = t.commit()) lmdb_fail("commit", rc);
    if (feed && !changes.empty()) {
      // Subscribers are chosen at commit; taking deliver_mu_ before releasing
      // the writer lock keeps deliveries in commit order while the next write runs.
      auto subs = subscribers(tn.tn_id, db);
      std::unique_lock dl(deliver_mu_);
      wl.unlock();
      deliver(subs, changes);
    }
    if (wl.owns_lock()) wl.unlock();
    if (!out.write(results.dump())) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

  Status subscribe(const Tenant& tn, std::string_view db, std::string_view path, ChangeFn fn, void* ctx, uint64_t& id) override {
    check_name("database id", db);
    if (!fn) invalid("subscribe needs a callback");
    std::string prefix(path);
    bool raw = prefix.empty() || prefix.back() == '/';
    if (!prefix.empty()) split_path(raw ? std::string_view(prefix).substr(0, prefix.size() - 1) : std::string_view(prefix));
    auto s = std::make_shared<Subscription>();
    s->tn = tn.tn_id;
    s->db = std::string(db);
    s->prefix = std::move(prefix);
    s->raw = raw;
    s->fn = fn;
    s->ctx = ctx;
    // Under the writer lock: a batch sees the subscription at its start or not at all.
    std::lock_guard wl(write_mu_);
    std::lock_guard sl(sub_mu_);
    id = ++next_sub_;
    subs_[id] = std::move(s);
    has_subs_ = true;
    return Status::Ok();
  }

  void unsubscribe(uint64_t id) override {
    {
      std::lock_guard sl(sub_mu_);
      auto it = subs_.find(id);
      if (it == subs_.end()) return;
      it->second->active = false;  // deliveries check it before every call
      subs_.erase(it);
      has_subs_ = !subs_.empty();
    }
    // Wait out a delivery in progress (unless it is this thread's, calling from its callback).
    if (delivering_.load() != std::this_thread::get_id()) {
      std::lock_guard dl(deliver_mu_);
    }
  }

  // -- portable tenant dump

  Status export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    const dump::After a = dump::parse_after(after);
    if (!a.wants_type("doc")) return Status::Ok();
    std::optional<std::array<std::string, 3>> from;
    if (auto k = a.key_in("doc")) {
      auto p = dump::split_key(*k, 3, "doc");
      from = std::array<std::string, 3>{std::string(p[0]), std::string(p[1]), std::string(p[2])};
    }
    dump::Lines lines(out, limit);
    Txn t(env_, false);
    const std::string tnp = be(tn.tn_id, 4);
    struct Coll {
      std::string db, name;
      uint64_t no;
      bool operator<(const Coll& o) const { return db != o.db ? db < o.db : name < o.name; }
    };
    // The tenant's databases: one seek per database past its collections
    // (names are UTF-8, which never holds 0xFF), then the digest-keyed bucket.
    std::vector<std::string> dbs;
    std::vector<Coll> hashed;
    {
      Cursor c(t.get(), colls_);
      MDB_val k = val(tnp), v;
      std::string seek;
      int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
      while (rc == 0 && has_prefix(k, tnp)) {
        const uint64_t len = get_be(view(k).substr(4, 2));
        if (len == 0xFFFF) {
          std::string_view cv = view(v);
          const size_t dl = get_be(cv.substr(8, 2));
          hashed.push_back({std::string(cv.substr(10, dl)), std::string(cv.substr(10 + dl)), get_be(cv.substr(0, 8))});
          rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
          continue;
        }
        dbs.emplace_back(view(k).substr(6, len));
        seek = tnp + be(len, 2) + dbs.back() + '\xff';
        k = val(seek);
        rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
      }
      if (rc != 0 && rc != MDB_NOTFOUND) lmdb_fail("catalog scan", rc);
    }
    for (const auto& h : hashed) dbs.push_back(h.db);
    std::sort(dbs.begin(), dbs.end());
    dbs.erase(std::unique(dbs.begin(), dbs.end()), dbs.end());
    std::sort(hashed.begin(), hashed.end());

    for (const auto& db : dbs) {
      if (from && db < (*from)[0]) continue;
      const bool same_db = from && db == (*from)[0];
      // This database's collections in name order, one at a time: the inline
      // catalog range merged with its digest-keyed ones.
      const std::string dbp = tnp + be(db.size(), 2) + db;
      const std::string start = dbp + (same_db ? (*from)[1] : std::string());
      Cursor c(t.get(), colls_);
      MDB_val k = val(start), v;
      int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
      auto h = std::lower_bound(hashed.begin(), hashed.end(), Coll{db, same_db ? (*from)[1] : std::string(), 0});
      for (;;) {
        const bool inline_left = rc == 0 && has_prefix(k, dbp), hashed_left = h != hashed.end() && h->db == db;
        if (!inline_left && !hashed_left) break;
        Coll coll;
        if (inline_left && (!hashed_left || view(k).substr(dbp.size()) < h->name)) {
          coll = {db, std::string(view(k).substr(dbp.size())), get_be(view(v).substr(0, 8))};
          rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
        } else {
          coll = *h++;
        }
        std::optional<std::string_view> after_id;
        if (same_db && coll.name == (*from)[1]) after_id = (*from)[2];
        if (export_docs(t.get(), tn.tn_id, coll.no, db, coll.name, after_id, lines)) {
          lines.flush();
          return Status::Ok();
        }
      }
      if (rc != 0 && rc != MDB_NOTFOUND) lmdb_fail("catalog scan", rc);
    }
    lines.flush();
    return Status::Ok();
  }

  Status import_items(const Tenant& tn, std::string_view text) override {
    auto items = dump::parse_items<json>(text);
    struct Doc {
      std::string db, coll, id;
      const json* v;
    };
    std::vector<Doc> docs;
    for (const auto& it : items) {
      if (it.t != "doc") return Status::Error(CM_UNSUPPORTED, "rtdb-lmdb: unknown item type \"" + it.t + "\"");
      auto p = dump::split_key(it.k, 3, "doc");
      Doc d{std::string(p[0]), std::string(p[1]), std::string(p[2]), it.v ? &*it.v : nullptr};
      check_name("database id", d.db);
      collection_path(d.coll);
      if (d.id.empty() || d.id.find('/') != std::string::npos || d.id.size() > kMaxName) invalid("import_items: bad document id " + shown(d.id));
      if (d.v && !d.v->is_object()) invalid("import_items: a document must be a JSON object");
      docs.push_back(std::move(d));
    }
    std::unique_lock wl(write_mu_);
    const bool feed = has_subs_.load();
    std::map<std::string, std::vector<json>> changes;  // by database
    Txn t(env_, true);
    for (size_t i = 0; i < docs.size(); ++i) {
      const Doc& d = docs[i];
      auto no = coll_no(t.get(), tn.tn_id, d.db, d.coll, d.v != nullptr);
      if (!no) continue;  // deleting from a collection that never existed
      auto old = read_doc(t.get(), tn.tn_id, *no, d.id);
      if (!d.v && !old) continue;
      write_doc(t.get(), tn.tn_id, *no, d.coll, d.id, old ? &*old : nullptr, d.v, "item #" + std::to_string(i + 1) + ": ");
      if (!feed) continue;
      json ch = {{"op", d.v ? "set" : "delete"}, {"path", d.coll + "/" + d.id}};
      if (d.v) ch["value"] = *d.v;
      changes[d.db].push_back(std::move(ch));
    }
    if (int rc = t.commit()) lmdb_fail("commit", rc);
    if (!changes.empty()) {
      std::unique_lock dl(deliver_mu_);  // keeps deliveries in commit order, as transact does
      wl.unlock();
      for (const auto& [db, list] : changes) deliver(subscribers(tn.tn_id, db), list);
    }
    return Status::Ok();
  }

 private:
  // Emits the collection's documents in id order after `after_id`; true
  // when the export's limit is reached.
  bool export_docs(MDB_txn* t, uint32_t tn, uint64_t no, const std::string& db, const std::string& coll, std::optional<std::string_view> after_id,
                   dump::Lines& lines) {
    const std::string prefix = be(tn, 4) + be(no, 8);
    std::string start = prefix;
    if (after_id) start += after_id->substr(0, kIdPrefix);  // the start of its digest group, if any
    Cursor c(t, docs_);
    MDB_val k = val(start), v;
    int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
    auto emit = [&](std::string_view id, std::string_view text) {
      return (!after_id || id > *after_id) && lines.add("doc", dump::join_key({db, coll, id}), text);
    };
    while (rc == 0 && has_prefix(k, prefix)) {
      std::string_view idk = view(k).substr(prefix.size());
      if (idk.size() <= kIdPrefix) {
        if (emit(idk, split_stored(view(v)).text)) return true;
        rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
        continue;
      }
      // Ids longer than kIdPrefix that share its first kIdPrefix bytes sort by
      // digest in the keys: collect the group and order it by full id.
      const std::string group(idk.substr(0, kIdPrefix));
      std::vector<std::pair<std::string_view, std::string_view>> ids;  // views into the map, valid in `t`
      while (rc == 0 && has_prefix(k, prefix) && view(k).size() > prefix.size() + kIdPrefix && view(k).substr(prefix.size(), kIdPrefix) == group) {
        Stored s = split_stored(view(v));
        ids.emplace_back(s.id_header.empty() ? view(k).substr(prefix.size()) : s.id_header, s.text);
        rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
      }
      std::sort(ids.begin(), ids.end());
      for (const auto& [id, text] : ids)
        if (emit(id, text)) return true;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) lmdb_fail("export scan", rc);
    return false;
  }

  void open_databases() {
    Txn t(env_, true);
    MDB_dbi probe;
    int rc = mdb_dbi_open(t.get(), "meta", MDB_CREATE, &meta_);
    if (rc) lmdb_fail("open meta", rc);
    auto format = meta_get(t.get(), "format");
    if (!format && mdb_dbi_open(t.get(), "docs", 0, &probe) == 0)
      throw Error(CM_INVALID, "rtdb-lmdb: " + dir_ + " holds data in the 0.1 key layout, which this version cannot read; export it with rtdb-lmdb 0.1 and re-import");
    if (format && *format != kFormat) throw Error(CM_INVALID, "rtdb-lmdb: " + dir_ + " has format '" + *format + "', expected '" + kFormat + "'");
    if ((rc = mdb_dbi_open(t.get(), "docs", MDB_CREATE, &docs_)) || (rc = mdb_dbi_open(t.get(), "idx", MDB_CREATE, &idx_)) ||
        (rc = mdb_dbi_open(t.get(), "colls", MDB_CREATE, &colls_)))
      lmdb_fail("open databases", rc);
    if (!format) meta_put(t.get(), "format", kFormat);
    rebuild_indexes_if_changed(t.get());
    if ((rc = t.commit())) lmdb_fail("commit", rc);
  }

  std::optional<std::string> meta_get(MDB_txn* t, std::string_view k) {
    MDB_val kv = val(k), v;
    int rc = mdb_get(t, meta_, &kv, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc) lmdb_fail("meta get", rc);
    return std::string(view(v));
  }
  void meta_put(MDB_txn* t, std::string_view k, std::string_view v) {
    MDB_val kv = val(k), vv = val(v);
    if (int rc = mdb_put(t, meta_, &kv, &vv, 0)) lmdb_fail("meta put", rc);
  }

  // Index entries are only right for the options they were built with: when
  // the options change, drop them all and rebuild in this transaction.
  void rebuild_indexes_if_changed(MDB_txn* t) {
    json cfg = json::object();
    for (auto& [coll, fields] : indexes_) {
      auto sorted = fields;
      std::sort(sorted.begin(), sorted.end());
      cfg[coll] = sorted;
    }
    const std::string want = cfg.dump();
    if (meta_get(t, "indexes") == want) return;
    if (int rc = mdb_drop(t, idx_, 0)) lmdb_fail("drop indexes", rc);
    Cursor c(t, colls_);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
      std::string_view cv = view(v);
      const uint32_t tn = static_cast<uint32_t>(get_be(view(k).substr(0, 4)));
      const uint64_t no = get_be(cv.substr(0, 8));
      const std::string coll(cv.substr(10 + get_be(cv.substr(8, 2))));
      const auto* fields = fields_for(coll);
      if (!fields) continue;
      const std::string prefix = be(tn, 4) + be(no, 8);
      Cursor d(t, docs_);
      MDB_val dk = val(prefix), dv;
      for (int rc2 = mdb_cursor_get(d.get(), &dk, &dv, MDB_SET_RANGE); rc2 == 0 && has_prefix(dk, prefix); rc2 = mdb_cursor_get(d.get(), &dk, &dv, MDB_NEXT))
        put_index(t, prefix, view(dk).substr(prefix.size()), *fields, json::parse(split_stored(view(dv)).text));
    }
    meta_put(t, "indexes", want);
  }

  // Index definitions name a collection path ("users/u1/posts") or its last segment ("posts").
  const std::vector<std::string>* fields_for(std::string_view coll) const {
    auto it = indexes_.find(std::string(coll));
    if (it == indexes_.end()) it = indexes_.find(std::string(coll.substr(coll.rfind('/') + 1)));
    return it == indexes_.end() ? nullptr : &it->second;
  }

  static std::string coll_names(std::string_view db, std::string_view coll) { return be(db.size(), 2) + std::string(db) + std::string(coll); }
  static std::string coll_key(uint32_t tn, std::string_view db, std::string_view coll) {
    std::string names = coll_names(db, coll);
    if (4 + names.size() <= kMaxKey) return be(tn, 4) + names;
    return be(tn, 4) + "\xff\xff" + sha256(names);  // 0xFFFF is never a database id length
  }

  std::optional<uint64_t> find_coll(MDB_txn* t, uint32_t tn, std::string_view db, std::string_view coll) {
    std::string k = coll_key(tn, db, coll);
    MDB_val kv = val(k), v;
    int rc = mdb_get(t, colls_, &kv, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc) lmdb_fail("catalog get", rc);
    if (view(v).substr(8) != coll_names(db, coll)) throw Error(CM_CONFLICT, "rtdb-lmdb: collection key digest collision for " + shown(coll));
    return get_be(view(v).substr(0, 8));
  }

  std::optional<uint64_t> coll_no(MDB_txn* t, uint32_t tn, std::string_view db, std::string_view coll, bool create) {
    if (auto no = find_coll(t, tn, db, coll); no || !create) return no;
    auto next = meta_get(t, "next_coll");
    const uint64_t no = next ? get_be(*next) : 1;
    meta_put(t, "next_coll", be(no + 1, 8));
    std::string k = coll_key(tn, db, coll), v = be(no, 8) + coll_names(db, coll);
    MDB_val kv = val(k), vv = val(v);
    if (int rc = mdb_put(t, colls_, &kv, &vv, 0)) lmdb_fail("catalog put", rc);
    return no;
  }

  static std::string doc_key(uint32_t tn, uint64_t no, std::string_view id) { return be(tn, 4) + be(no, 8) + id_key(id); }

  // The stored document with this id (the full id is compared for digest keys).
  std::optional<Stored> stored(MDB_txn* t, uint32_t tn, uint64_t no, std::string_view id) {
    std::string k = doc_key(tn, no, id);
    MDB_val kv = val(k), v;
    int rc = mdb_get(t, docs_, &kv, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc) lmdb_fail("get", rc);
    Stored s = split_stored(view(v));
    if (id.size() > kInlineId && s.id_header != id) throw Error(CM_CONFLICT, "rtdb-lmdb: document key digest collision for " + shown(id));
    return s;
  }
  std::optional<json> read_doc(MDB_txn* t, uint32_t tn, uint64_t no, std::string_view id) {
    auto s = stored(t, tn, no, id);
    return s ? std::optional<json>(json::parse(s->text)) : std::nullopt;
  }

  void put_index(MDB_txn* t, const std::string& coll_prefix, std::string_view idk, const std::vector<std::string>& fields, const json& doc, bool remove = false) {
    for (const auto& f : fields) {
      std::string k = coll_prefix + be(f.size(), 1) + f + enc(field_of(doc, f)) + std::string(idk);
      MDB_val kv = val(k), empty{0, nullptr};
      int rc = remove ? mdb_del(t, idx_, &kv, nullptr) : mdb_put(t, idx_, &kv, &empty, 0);
      if (rc && !(remove && rc == MDB_NOTFOUND)) lmdb_fail("index write", rc);
    }
  }

  // Writes (doc) or deletes (doc == nullptr) a document and its index entries.
  void write_doc(MDB_txn* t, uint32_t tn, uint64_t no, std::string_view coll, std::string_view id, const json* old, const json* doc, const std::string& at) {
    const std::string prefix = be(tn, 4) + be(no, 8), idk = id_key(id), k = prefix + idk;
    const auto* fields = fields_for(coll);
    if (fields && old) put_index(t, prefix, idk, *fields, *old, true);
    MDB_val kv = val(k);
    if (!doc) {
      if (int rc = mdb_del(t, docs_, &kv, nullptr)) lmdb_fail("delete", rc);
      return;
    }
    std::string text = doc->dump();
    if (text.size() > kMaxDoc) throw Error(CM_TOO_LARGE, at + "the document is " + std::to_string(text.size()) + " bytes; the limit is 16 MiB");
    if (id.size() > kInlineId) text = '\0' + be(id.size(), 2) + std::string(id) + text;
    MDB_val vv = val(text);
    if (int rc = mdb_put(t, docs_, &kv, &vv, 0)) lmdb_fail("put", rc);
    if (fields) put_index(t, prefix, idk, *fields, *doc);
  }

  static void check_op(const json& op, size_t i) {
    const std::string at = "op #" + std::to_string(i + 1) + ": ";
    if (!op.is_object()) invalid(at + "must be an object {\"op\", \"path\", \"value\"?}");
    if (!op.contains("op") || !op["op"].is_string()) invalid(at + "needs a string \"op\" (set, update, delete, create)");
    if (!op.contains("path") || !op["path"].is_string()) invalid(at + "needs a string \"path\"");
    const std::string& kind = op["op"].get_ref<const std::string&>();
    const std::string& path = op["path"].get_ref<const std::string&>();
    try {
      if (kind == "create") collection_path(path);
      else if (kind == "set" || kind == "update" || kind == "delete") doc_path(path);
      else invalid("unknown op '" + kind + "' (set, update, delete, create)");
    } catch (const Error& e) {
      invalid(at + e.what());
    }
    if (kind != "delete" && (!op.contains("value") || !op["value"].is_object())) invalid(at + kind + " needs an object \"value\"");
  }

  static std::string new_id() {
    static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string id;
    while (id.size() < 16) {
      unsigned char r[32];
      if (RAND_bytes(r, sizeof r) != 1) throw Error(CM_INTERNAL, "rtdb-lmdb: no randomness");
      for (unsigned char c : r)
        if (c < 248 && id.size() < 16) id += alphabet[c % 62];  // 248 = 4·62: no bias
    }
    return id;
  }

  // The [from, to) ranges of encoded values that hold every match of `field`'s
  // conditions; false when they cannot narrow the search.
  static bool ranges_for(const Query& q, const std::string& field, std::vector<std::pair<std::string, std::string>>& out) {
    auto scalar = [](const json& v) { return !v.is_structured(); };
    auto point = [](const json& v) { return std::make_pair(enc(&v), enc(&v) + '\xff'); };  // '\xff' never starts an id
    std::optional<std::string> lo, hi;
    for (const auto& c : q.conds) {
      if (c.field != field) continue;
      if (c.op == Op::Eq && scalar(c.arg)) {
        out = {point(c.arg)};
        return true;
      }
      if (c.op == Op::In && std::all_of(c.arg.begin(), c.arg.end(), scalar)) {
        std::set<std::pair<std::string, std::string>> pts;
        for (const auto& v : c.arg) pts.insert(point(v));
        out.assign(pts.begin(), pts.end());
        return true;
      }
      // Ordered operators only match values of the argument's type: stay inside
      // its tags (booleans have two).
      if ((c.op == Op::Gt || c.op == Op::Gte) && scalar(c.arg) && !lo) {
        lo = enc(&c.arg);
        if (!hi) hi = std::string(1, (*lo)[0] == kFalse || (*lo)[0] == kTrue ? char(kNumber) : char((*lo)[0] + 1));
      }
      if ((c.op == Op::Lt || c.op == Op::Lte) && scalar(c.arg) && (!hi || hi->size() == 1)) {
        hi = enc(&c.arg) + '\xff';
        if (!lo) lo = std::string(1, (*hi)[0] == kTrue ? char(kFalse) : (*hi)[0]);
      }
    }
    if (!lo) return false;
    out = {{*lo, *hi}};
    return true;
  }

  Entry entry_of(std::string_view idk, const Stored& s, const json& doc, const Query& q) {
    std::string id = s.id_header.empty() ? std::string(idk) : std::string(s.id_header);
    return Entry{std::move(id), q.keys_of(doc), s.text};
  }

  // Filters one stored document; appends it to `out` when it matches and follows the cursor.
  void consider(std::string_view idk, std::string_view value, const Query& q, std::vector<Entry>& out) {
    Stored s = split_stored(value);
    json doc = json::parse(s.text);
    if (!q.passes(doc)) return;
    Entry e = entry_of(idk, s, doc, q);
    if (q.after && !q.less(*q.after, e)) return;
    out.push_back(std::move(e));
  }

  std::vector<Entry> scan(MDB_txn* t, uint32_t tn, uint64_t no, const Query& q) {
    std::vector<Entry> hits;
    const std::string prefix = be(tn, 4) + be(no, 8);
    Cursor c(t, docs_);
    MDB_val k = val(prefix), v;
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && has_prefix(k, prefix); rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT))
      consider(view(k).substr(prefix.size()), view(v), q, hits);
    return hits;
  }

  std::vector<Entry> candidates(MDB_txn* t, uint32_t tn, uint64_t no, const std::string& field, const std::vector<std::pair<std::string, std::string>>& ranges, const Query& q) {
    std::vector<Entry> hits;
    const std::string coll_prefix = be(tn, 4) + be(no, 8), prefix = coll_prefix + be(field.size(), 1) + field;
    Cursor c(t, idx_);
    for (const auto& [from, to] : ranges) {
      const std::string start = prefix + from, end = prefix + to;
      MDB_val k = val(start), v;
      for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && view(k) < end; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
        std::string_view rest = view(k).substr(prefix.size());
        std::string_view idk = rest.substr(enc_len(rest));
        std::string dk = coll_prefix + std::string(idk);
        MDB_val dkv = val(dk), dv;
        int rc2 = mdb_get(t, docs_, &dkv, &dv);
        if (rc2 == MDB_NOTFOUND) throw Error(CM_INTERNAL, "rtdb-lmdb: index entry without document");
        if (rc2) lmdb_fail("get", rc2);
        consider(idk, view(dv), q, hits);
      }
    }
    return hits;
  }

  // Walks the first sort field's index in result order, one group of equal
  // encoded values at a time (sorted in memory by the full order), and stops
  // as soon as the page is full.
  void ordered_scan(MDB_txn* t, uint32_t tn, uint64_t no, const Query& q, Page& page) {
    const std::string& field = q.sort[0].field;
    const bool desc = q.sort[0].desc;
    const std::string coll_prefix = be(tn, 4) + be(no, 8), prefix = coll_prefix + be(field.size(), 1) + field;
    // Start at the cursor's group (or the first/last one).
    std::string start = prefix;
    if (q.after) start += enc(q.after->keys[0] ? &*q.after->keys[0] : nullptr);
    if (desc) start += '\xff';
    Cursor c(t, idx_);
    MDB_val k = val(start), v;
    int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
    if (desc) rc = rc == MDB_NOTFOUND ? mdb_cursor_get(c.get(), &k, &v, MDB_LAST) : rc == 0 ? mdb_cursor_get(c.get(), &k, &v, MDB_PREV) : rc;
    std::string group;
    std::vector<Entry> hits;
    auto flush = [&] {
      std::sort(hits.begin(), hits.end(), [&](const Entry& a, const Entry& b) { return q.less(a, b); });
      for (auto& e : hits)
        if (page.push(std::move(e))) return true;
      hits.clear();
      return false;
    };
    for (; rc == 0 && has_prefix(k, prefix); rc = mdb_cursor_get(c.get(), &k, &v, desc ? MDB_PREV : MDB_NEXT)) {
      std::string_view rest = view(k).substr(prefix.size());
      const size_t n = enc_len(rest);
      if (rest.substr(0, n) != group) {
        if (flush()) return;
        group = std::string(rest.substr(0, n));
      }
      std::string dk = coll_prefix + std::string(rest.substr(n));
      MDB_val dkv = val(dk), dv;
      if (int rc2 = mdb_get(t, docs_, &dkv, &dv)) lmdb_fail("get", rc2);
      consider(rest.substr(n), view(dv), q, hits);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) lmdb_fail("index scan", rc);
    flush();
  }

  std::vector<std::shared_ptr<Subscription>> subscribers(uint32_t tn, std::string_view db) {
    std::vector<std::shared_ptr<Subscription>> out;
    std::lock_guard sl(sub_mu_);
    for (auto& [id, s] : subs_)
      if (s->tn == tn && s->db == db) out.push_back(s);
    return out;
  }

  void deliver(const std::vector<std::shared_ptr<Subscription>>& subs, const std::vector<json>& changes) {
    delivering_ = std::this_thread::get_id();
    struct Reset {
      std::atomic<std::thread::id>& d;
      ~Reset() { d = std::thread::id(); }
    } reset{delivering_};
    for (const auto& ch : changes) {
      const std::string& path = ch["path"].get_ref<const std::string&>();
      std::string text;
      for (const auto& s : subs) {
        if (!s->active.load() || !s->covers(path)) continue;
        if (text.empty()) text = ch.dump();
        s->fn(s->ctx, {text.data(), text.size()});
      }
    }
  }

  std::string dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi docs_ = 0, idx_ = 0, colls_ = 0, meta_ = 0;
  std::map<std::string, std::vector<std::string>> indexes_;
  std::mutex write_mu_;    // one LMDB write transaction at a time
  std::mutex deliver_mu_;  // held while a batch's changes are delivered
  std::mutex sub_mu_;      // guards subs_
  std::map<uint64_t, std::shared_ptr<Subscription>> subs_;
  uint64_t next_sub_ = 0;
  std::atomic<bool> has_subs_{false};
  std::atomic<std::thread::id> delivering_{};
};

}  // namespace

CUMULO_PLUGIN("rtdb-lmdb", "0.2.0", "Path-addressed JSON documents on LMDB (indexes, queries, transactions, change feed)", CM_KIND_RTDB) {
  reg.add<LmdbRtdb>("rtdb-lmdb",
                    R"({"type":"object","required":["dir"],"properties":{"dir":{"type":"string"},"mapSize":{"type":"integer","minimum":1048576},"indexes":{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}}}})");
}
