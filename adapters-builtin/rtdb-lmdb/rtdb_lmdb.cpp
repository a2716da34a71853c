// rtdb-lmdb: path-addressed JSON documents on LMDB.
//
//   docs: <tn BE32><db len BE16><db><path>                           → JSON text
//   idx:  <tn BE32><db len BE16><db><coll len BE16><coll><field len BE8><field>
//         <order-preserving value><path>                             → ""
//
// A path is "coll/doc[/coll/doc…]"; a collection path has an odd number of
// segments. Every operation runs inside one LMDB transaction, so a batch is
// all-or-nothing and its index entries change with it. Committed changes are
// delivered to subscribers after commit, in commit order.
#include <cumulo/sdk.hpp>
#include <lmdb.h>

#include "lmdb_util.hpp"
#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using cumulo::sdk::Error;
using cumulo::sdk::RtdbAdapter;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;
using namespace cumulo::adapters::lmdb;

constexpr size_t kMaxPath = 300;  // LMDB keys are ≤ 511 bytes
constexpr size_t kMaxDb = 100;

Status lmdb_error(const char* what, int rc) {
  return Status::Error(rc == MDB_MAP_FULL ? CM_TOO_LARGE : CM_IO, std::string("rtdb-lmdb: ") + what + ": " + mdb_strerror(rc));
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// Checks a document (even segment count) or collection (odd) path.
Status check_path(std::string_view path, bool collection) {
  if (path.empty() || path.size() > kMaxPath) return Status::Invalid("path must be 1-" + std::to_string(kMaxPath) + " bytes");
  auto segs = segments(path);
  for (auto s : segs)
    if (s.empty()) return Status::Invalid("path '" + std::string(path) + "' has an empty segment");
  if (path.find('\0') != std::string_view::npos) return Status::Invalid("path must not contain NUL");
  if ((segs.size() % 2 == 1) != collection)
    return Status::Invalid(std::string("'") + std::string(path) + (collection ? "' is not a collection path (coll[/doc/coll])" : "' is not a document path (coll/doc)"));
  return Status::Ok();
}

Status check_db(std::string_view db) {
  if (db.empty() || db.size() > kMaxDb || db.find('\0') != std::string_view::npos) return Status::Invalid("database id must be 1-100 bytes");
  return Status::Ok();
}

std::string parent_of(std::string_view path) { return std::string(path.substr(0, path.rfind('/'))); }
std::string leaf_of(std::string_view path) { return std::string(path.substr(path.rfind('/') + 1)); }

// Order-preserving encoding of a JSON scalar for index keys.
std::optional<std::string> encode(const json& v) {
  std::string out;
  if (v.is_null()) out.push_back(0);
  else if (v.is_boolean()) out.push_back(v.get<bool>() ? 2 : 1);
  else if (v.is_number()) {
    out.push_back(3);
    double d = v.get<double>();
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    bits = (bits & (uint64_t{1} << 63)) ? ~bits : bits | (uint64_t{1} << 63);  // sortable as unsigned
    put_be(out, bits, 8);
  } else if (v.is_string()) {
    out.push_back(4);
    for (char c : v.get_ref<const std::string&>()) {
      out.push_back(c);
      if (c == '\0') out.push_back('\xff');  // escape so the terminator stays unique
    }
    out.push_back('\0');
    out.push_back('\0');
  } else {
    return std::nullopt;  // arrays and objects are not indexed
  }
  return out;
}

// Compares JSON values for sorting: null < bool < number < string < others.
int rank(const json& v) { return v.is_null() ? 0 : v.is_boolean() ? 1 : v.is_number() ? 2 : v.is_string() ? 3 : 4; }
int compare(const json& a, const json& b) {
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (a == b) return 0;
  if (ra == 4) return a.dump() < b.dump() ? -1 : 1;
  return a < b ? -1 : 1;
}

const json* field(const json& doc, const std::string& name) {
  const json* cur = &doc;
  size_t start = 0;
  while (true) {  // "a.b" walks nested objects
    size_t dot = name.find('.', start);
    std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

// One filter condition; operators as in docs: $eq $ne $gt $gte $lt $lte $in $contains.
bool matches(const json& doc, const std::string& name, const json& cond) {
  static const json kNull;
  const json* v = field(doc, name);
  const json& x = v ? *v : kNull;
  if (!cond.is_object() || cond.empty() || cond.begin().key().empty() || cond.begin().key()[0] != '$') return x == cond;
  for (auto& [op, arg] : cond.items()) {
    bool ok;
    if (op == "$eq") ok = x == arg;
    else if (op == "$ne") ok = x != arg;
    else if (op == "$gt") ok = v && rank(x) == rank(arg) && compare(x, arg) > 0;
    else if (op == "$gte") ok = v && rank(x) == rank(arg) && compare(x, arg) >= 0;
    else if (op == "$lt") ok = v && rank(x) == rank(arg) && compare(x, arg) < 0;
    else if (op == "$lte") ok = v && rank(x) == rank(arg) && compare(x, arg) <= 0;
    else if (op == "$in") ok = arg.is_array() && std::find(arg.begin(), arg.end(), x) != arg.end();
    else if (op == "$contains") ok = (x.is_array() && std::find(x.begin(), x.end(), arg) != x.end()) || (x.is_string() && arg.is_string() && x.get_ref<const std::string&>().find(arg.get_ref<const std::string&>()) != std::string::npos);
    else throw Error(CM_INVALID, "unknown filter operator " + op);
    if (!ok) return false;
  }
  return true;
}

struct Subscription {
  uint32_t tn;
  std::string db, prefix;
  cm_rtdb_change_fn fn;
  void* ctx;
};

class LmdbRtdb : public RtdbAdapter {
 public:
  explicit LmdbRtdb(std::string_view options) {
    auto j = json::parse(options, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("dir") || !j["dir"].is_string())
      throw Error(CM_INVALID, "rtdb-lmdb: options need {\"dir\": \"/abs/path\", \"mapSize\"?, \"indexes\"?: {coll: [field…]}}");
    fs::path dir = j["dir"].get<std::string>();
    if (!dir.is_absolute()) throw Error(CM_INVALID, "rtdb-lmdb: \"dir\" must be an absolute path");
    if (j.contains("indexes")) {
      if (!j["indexes"].is_object()) throw Error(CM_INVALID, "rtdb-lmdb: \"indexes\" must map collection → [fields]");
      for (auto& [coll, fields] : j["indexes"].items()) {
        if (!fields.is_array()) throw Error(CM_INVALID, "rtdb-lmdb: indexes of " + coll + " must be an array");
        for (auto& f : fields) indexes_[coll].push_back(f.get<std::string>());
      }
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    env_ = open_env(dir.string(), j.value("mapSize", size_t{1} << 30), "rtdb-lmdb");
    Txn t(env_, true);
    int rc;
    if ((rc = mdb_dbi_open(t.get(), "docs", MDB_CREATE, &docs_)) || (rc = mdb_dbi_open(t.get(), "idx", MDB_CREATE, &idx_)) || (rc = t.commit()))
      throw Error(CM_IO, std::string("rtdb-lmdb: cannot open databases: ") + mdb_strerror(rc));
  }
  ~LmdbRtdb() override {
    if (env_) mdb_env_close(env_);
  }

  Status health() override {
    Txn t(env_, false);
    return Status::Ok();
  }

  Status get(const Tenant& tn, std::string_view db, std::string_view path, const Sink& out) override {
    if (auto st = check_db(db); !st.ok()) return st;
    if (auto st = check_path(path, false); !st.ok()) return st;
    Txn t(env_, false);
    std::string k = doc_key(tn, db, path);
    MDB_val kv = val(k), v;
    int rc = mdb_get(t.get(), docs_, &kv, &v);
    if (rc == MDB_NOTFOUND) return Status::NotFound("no document at " + std::string(path));
    if (rc) return lmdb_error("get", rc);
    out.write(std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
    return Status::Ok();
  }

  Status query(const Tenant& tn, std::string_view db, std::string_view coll_sv, std::string_view query_json, const Sink& out) override {
    if (auto st = check_db(db); !st.ok()) return st;
    if (auto st = check_path(coll_sv, true); !st.ok()) return st;
    const std::string coll(coll_sv);
    json q = query_json.empty() ? json::object() : json::parse(query_json, nullptr, false);
    if (q.is_discarded() || !q.is_object()) return Status::Invalid("query must be a JSON object {filter, sort, limit, cursor}");
    const json filter = q.value("filter", json::object());
    if (!filter.is_object()) return Status::Invalid("filter must be an object");
    std::vector<std::pair<std::string, bool>> sort;  // field, descending
    if (q.contains("sort")) {
      if (!q["sort"].is_array()) return Status::Invalid("sort must be an array of {field, dir}");
      for (auto& s : q["sort"]) {
        if (!s.is_object() || !s.contains("field") || !s["field"].is_string()) return Status::Invalid("sort entries need a \"field\"");
        sort.emplace_back(s["field"].get<std::string>(), s.value("dir", "asc") == "desc");
      }
    }
    const size_t limit = q.value("limit", size_t{100});
    std::optional<json> after;
    if (q.contains("cursor") && !q["cursor"].is_null()) {
      after = json::parse(q["cursor"].get<std::string>(), nullptr, false);
      if (after->is_discarded() || !after->is_object()) return Status::Invalid("bad cursor");
    }

    Txn t(env_, false);
    std::vector<std::pair<std::string, json>> hits;  // (doc id, data)
    auto consider = [&](const std::string& path, std::string_view text) {
      if (parent_of(path) != coll) return;  // direct children only
      json doc = json::parse(text);
      for (auto& [name, cond] : filter.items())
        if (!matches(doc, name, cond)) return;
      hits.emplace_back(leaf_of(path), std::move(doc));
    };
    // An equality filter on an indexed field narrows the scan to one index range.
    std::optional<std::string> index_prefix;
    for (auto& [name, cond] : filter.items()) {
      const json& eq = (cond.is_object() && cond.contains("$eq")) ? cond["$eq"] : cond;
      if ((cond.is_object() && !cond.contains("$eq")) || !indexed(coll, name)) continue;
      if (auto enc = encode(eq)) {
        index_prefix = idx_prefix(tn, db, coll, name) + *enc;
        break;
      }
    }
    if (index_prefix) {
      Cursor c(t.get(), idx_);
      MDB_val k = val(*index_prefix), v;
      for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && has_prefix(k, *index_prefix); rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
        std::string path = str(k).substr(index_prefix->size());
        std::string dk = doc_key(tn, db, path);
        MDB_val dkv = val(dk), dv;
        if (mdb_get(t.get(), docs_, &dkv, &dv) == 0) consider(path, std::string_view(static_cast<const char*>(dv.mv_data), dv.mv_size));
      }
    } else {
      const std::string prefix = doc_key(tn, db, coll + "/");
      const size_t base = doc_key(tn, db, "").size();
      Cursor c(t.get(), docs_);
      MDB_val k = val(prefix), v;
      for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && has_prefix(k, prefix); rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT))
        consider(str(k).substr(base), std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
    }

    // Stable order: the sort fields, then the doc id.
    auto key_of = [&](const std::pair<std::string, json>& h) {
      json k = json::array();
      for (auto& [f, desc] : sort) {
        const json* x = field(h.second, f);
        k.push_back(x ? *x : json());
      }
      return k;
    };
    auto less = [&](const json& ka, const std::string& ida, const json& kb, const std::string& idb) {
      for (size_t i = 0; i < sort.size(); ++i) {
        int c = compare(ka[i], kb[i]);
        if (c != 0) return sort[i].second ? c > 0 : c < 0;
      }
      return ida < idb;
    };
    std::vector<std::pair<json, size_t>> keyed;
    for (size_t i = 0; i < hits.size(); ++i) keyed.emplace_back(key_of(hits[i]), i);
    std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) { return less(a.first, hits[a.second].first, b.first, hits[b.second].first); });
    json docs = json::array();
    json last_key;
    std::string last_id;
    bool more = false;
    for (const auto& [k, i] : keyed) {
      if (after && !less((*after)["k"], (*after)["id"].get<std::string>(), k, hits[i].first)) continue;
      if (docs.size() == limit) {
        more = true;  // a cursor only when more documents follow
        break;
      }
      docs.push_back({{"id", hits[i].first}, {"data", hits[i].second}});
      last_key = k;
      last_id = hits[i].first;
    }
    json next = more ? json(json{{"k", last_key}, {"id", last_id}}.dump()) : json(nullptr);
    out.write(json{{"docs", docs}, {"cursor", next}}.dump());
    return Status::Ok();
  }

  Status transact(const Tenant& tn, std::string_view db, std::string_view ops_json, const Sink& out) override {
    if (auto st = check_db(db); !st.ok()) return st;
    json ops = json::parse(ops_json, nullptr, false);
    if (ops.is_discarded() || !ops.is_array()) return Status::Invalid("transaction must be a JSON array of operations");
    std::vector<json> changes;
    json results = json::array();
    std::lock_guard lk(write_mu_);
    {
      Txn t(env_, true);
      for (auto& op : ops) {
        if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") || !op["path"].is_string())
          return Status::Invalid("every operation needs \"op\" and \"path\"");
        const std::string kind = op["op"], path = op["path"];
        if (kind == "create") {
          if (auto st = check_path(path, true); !st.ok()) return st;
          if (!op.contains("value") || !op["value"].is_object()) return Status::Invalid("create needs an object \"value\"");
          std::string id = new_id(), doc_path = path + "/" + id;
          if (auto st = write_doc(t, tn, db, doc_path, &op["value"]); !st.ok()) return st;
          results.push_back({{"id", id}});
          changes.push_back({{"op", "create"}, {"path", doc_path}, {"value", op["value"]}});
          continue;
        }
        if (auto st = check_path(path, false); !st.ok()) return st;
        if (kind == "set") {
          if (!op.contains("value") || !op["value"].is_object()) return Status::Invalid("set needs an object \"value\"");
          if (auto st = write_doc(t, tn, db, path, &op["value"]); !st.ok()) return st;
          changes.push_back({{"op", "set"}, {"path", path}, {"value", op["value"]}});
        } else if (kind == "update") {
          if (!op.contains("value") || !op["value"].is_object()) return Status::Invalid("update needs an object \"value\"");
          auto cur = read_doc(t, tn, db, path);
          if (!cur) return Status::NotFound("update of missing document " + path);
          cur->merge_patch(op["value"]);  // RFC 7386: null deletes a field
          if (auto st = write_doc(t, tn, db, path, &*cur); !st.ok()) return st;
          changes.push_back({{"op", "update"}, {"path", path}, {"value", *cur}});
        } else if (kind == "delete") {
          if (!read_doc(t, tn, db, path)) return Status::NotFound("delete of missing document " + path);
          if (auto st = write_doc(t, tn, db, path, nullptr); !st.ok()) return st;
          changes.push_back({{"op", "delete"}, {"path", path}});
        } else {
          return Status::Invalid("unknown operation '" + kind + "' (set, update, delete, create)");
        }
        results.push_back(nullptr);
      }
      if (int rc = t.commit()) return lmdb_error("commit", rc);
    }
    // Still under write_mu_: deliveries happen in commit order.
    deliver(tn, std::string(db), changes);
    out.write(results.dump());
    return Status::Ok();
  }

  Status subscribe(const Tenant& tn, std::string_view db, std::string_view path, ChangeFn fn, void* ctx, uint64_t& id) override {
    if (auto st = check_db(db); !st.ok()) return st;
    if (!fn) return Status::Invalid("subscribe needs a callback");
    std::lock_guard lk(sub_mu_);
    id = ++next_sub_;
    subs_[id] = Subscription{tn.tn_id, std::string(db), std::string(path), fn, ctx};
    return Status::Ok();
  }

  // Deliveries hold sub_mu_, so once this returns no callback of `id` runs.
  void unsubscribe(uint64_t id) override {
    std::lock_guard lk(sub_mu_);
    subs_.erase(id);
  }

 private:
  bool indexed(const std::string& coll, const std::string& field_name) const {
    // Index definitions name the collection's last segment ("posts" covers "a/b/posts").
    auto it = indexes_.find(coll.substr(coll.rfind('/') == std::string::npos ? 0 : coll.rfind('/') + 1));
    return it != indexes_.end() && std::find(it->second.begin(), it->second.end(), field_name) != it->second.end();
  }

  std::string db_prefix(const Tenant& tn, std::string_view db) const {
    std::string k;
    put_be(k, tn.tn_id, 4);
    put_be(k, db.size(), 2);
    k.append(db);
    return k;
  }
  std::string doc_key(const Tenant& tn, std::string_view db, std::string_view path) const { return db_prefix(tn, db) + std::string(path); }
  std::string idx_prefix(const Tenant& tn, std::string_view db, const std::string& coll, const std::string& f) const {
    std::string k = db_prefix(tn, db);
    put_be(k, coll.size(), 2);
    k += coll;
    put_be(k, f.size(), 1);
    k += f;
    return k;
  }

  std::optional<json> read_doc(Txn& t, const Tenant& tn, std::string_view db, const std::string& path) {
    std::string k = doc_key(tn, db, path);
    MDB_val kv = val(k), v;
    int rc = mdb_get(t.get(), docs_, &kv, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc) throw Error(CM_IO, std::string("rtdb-lmdb: get: ") + mdb_strerror(rc));
    return json::parse(std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
  }

  // Writes (or deletes, when doc is null) a document and its index entries.
  Status write_doc(Txn& t, const Tenant& tn, std::string_view db, const std::string& path, const json* doc) {
    const std::string coll = parent_of(path);
    auto old = read_doc(t, tn, db, path);
    auto index_keys = [&](const json& d) {
      std::vector<std::string> keys;
      auto it = indexes_.find(coll.substr(coll.rfind('/') == std::string::npos ? 0 : coll.rfind('/') + 1));
      if (it == indexes_.end()) return keys;
      for (const auto& f : it->second)
        if (const json* x = field(d, f))
          if (auto enc = encode(*x)) keys.push_back(idx_prefix(tn, db, coll, f) + *enc + path);
      return keys;
    };
    int rc;
    if (old)
      for (auto& k : index_keys(*old)) {
        MDB_val kv = val(k);
        if ((rc = mdb_del(t.get(), idx_, &kv, nullptr)) && rc != MDB_NOTFOUND) return lmdb_error("index del", rc);
      }
    std::string dk = doc_key(tn, db, path);
    MDB_val dkv = val(dk);
    if (!doc) {
      if ((rc = mdb_del(t.get(), docs_, &dkv, nullptr)) && rc != MDB_NOTFOUND) return lmdb_error("del", rc);
      return Status::Ok();
    }
    std::string text = doc->dump();
    MDB_val dv = val(text);
    if ((rc = mdb_put(t.get(), docs_, &dkv, &dv, 0))) return lmdb_error("put", rc);
    std::string empty;
    for (auto& k : index_keys(*doc)) {
      MDB_val kv = val(k), ev = val(empty);
      if (kv.mv_size > 511) return Status::Error(CM_TOO_LARGE, "indexed value too long for an index key");
      if ((rc = mdb_put(t.get(), idx_, &kv, &ev, 0))) return lmdb_error("index put", rc);
    }
    return Status::Ok();
  }

  static std::string new_id() {
    static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1) throw Error(CM_INTERNAL, "rtdb-lmdb: no randomness");
    std::string id;
    for (unsigned char c : r) id.push_back(alphabet[c % 62]);
    return id;
  }

  void deliver(const Tenant& tn, const std::string& db, const std::vector<json>& changes) {
    std::lock_guard lk(sub_mu_);
    if (subs_.empty()) return;
    for (const auto& ch : changes) {
      const std::string& path = ch["path"].get_ref<const std::string&>();
      std::string text;
      for (auto& [id, s] : subs_) {
        if (s.tn != tn.tn_id || s.db != db || path.compare(0, s.prefix.size(), s.prefix) != 0) continue;
        if (text.empty()) text = ch.dump();
        s.fn(s.ctx, {text.data(), text.size()});
      }
    }
  }

  MDB_env* env_ = nullptr;
  MDB_dbi docs_ = 0, idx_ = 0;
  std::map<std::string, std::vector<std::string>> indexes_;
  std::mutex write_mu_;
  std::mutex sub_mu_;
  std::map<uint64_t, Subscription> subs_;
  uint64_t next_sub_ = 0;
};

}  // namespace

CUMULO_PLUGIN("rtdb-lmdb", "0.1.0", "Path-addressed JSON documents on LMDB (indexes, queries, transactions, change feed)", CM_KIND_RTDB) {
  reg.add<LmdbRtdb>("rtdb-lmdb");
}
