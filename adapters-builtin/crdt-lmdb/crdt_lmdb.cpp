// crdt-lmdb: the per-document Yjs update log on LMDB (shapes and limits: README.md).
//
//   updates: <tn BE32><doc key length BE16><doc key><seq BE64> → update bytes
//   docs:    <tn BE32><doc key>                               → <last seq BE64>[full id]
// doc key = the document id when ≤ 400 bytes, else its first 400 bytes, NUL,
// and the SHA-256 of the whole id (ids never contain NUL, so the two forms
// never meet); the catalog entry then also holds the full id, which every call
// compares. LMDB keys stop at 511 bytes, so 1 KiB ids cannot be keys verbatim,
// yet two ids never share a log: the reference's truncated 24-byte keys do.
// The length prefix keeps "a" and "ab" in separate key ranges.
//
// One write transaction at a time (LMDB's rule), serialised on a mutex; reads
// run in their own read-only transactions (MDB_NOTLS), concurrently with
// writes. An append is durable when it returns (synchronous commit).
#include <cumulo/sdk.hpp>
#include <lmdb.h>
#include <openssl/evp.h>

#include <filesystem>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "lmdb_util.hpp"

namespace {

namespace fs = std::filesystem;
using cumulo::sdk::CrdtAdapter;
using cumulo::sdk::Error;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;
using namespace cumulo::adapters::lmdb;

[[noreturn]] void lmdb_fail(const char* what, int rc) { cumulo::adapters::lmdb::fail("crdt-lmdb", what, rc); }

constexpr size_t kMaxDocId = 1024;
constexpr size_t kInlineId = 400;  // 4 + 2 + 433 + 8 bytes stays under LMDB's 511-byte keys



void check_doc(std::string_view doc) {
  if (doc.empty()) throw Error(CM_INVALID, "document id is empty");
  if (doc.size() > kMaxDocId) throw Error(CM_INVALID, "document id is " + std::to_string(doc.size()) + " bytes; the limit is 1024");
  if (!valid_utf8(doc)) throw Error(CM_INVALID, "document id is not valid UTF-8");
  if (doc.find('\n') != std::string_view::npos || doc.find('\0') != std::string_view::npos) throw Error(CM_INVALID, "document id must not contain newline or NUL");
}

std::string sha256(std::string_view s) {
  unsigned char md[32];
  unsigned len = 0;
  if (!EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr)) throw Error(CM_INTERNAL, "crdt-lmdb: SHA-256 failed");
  return {reinterpret_cast<char*>(md), 32};
}

std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// Keys of one document of one tenant.
struct DocKeys {
  std::string catalog;  // docs key
  std::string prefix;   // updates key without the seq
  bool digest;          // the id was too long to be its own key
  DocKeys(const Tenant& tn, std::string_view doc) : digest(doc.size() > kInlineId) {
    std::string key = digest ? std::string(doc.substr(0, kInlineId)) + '\0' + sha256(doc) : std::string(doc);
    put_be(catalog, tn.tn_id, 4);
    catalog += key;
    put_be(prefix, tn.tn_id, 4);
    put_be(prefix, key.size(), 2);
    prefix += key;
  }
  std::string update(uint64_t seq) const {
    std::string k = prefix;
    put_be(k, seq, 8);
    return k;
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

class LmdbCrdt : public CrdtAdapter {
 public:
  explicit LmdbCrdt(std::string_view options) {
    auto j = nlohmann::json::parse(options, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("dir") || !j["dir"].is_string())
      throw Error(CM_INVALID, "crdt-lmdb: options need {\"dir\": \"/abs/path\", \"mapSize\"?: bytes}");
    size_t map_size = size_t{1} << 30;
    for (auto& [k, v] : j.items()) {
      if (k == "mapSize") {
        if (!v.is_number_unsigned() || v.get<uint64_t>() < (uint64_t{1} << 20)) throw Error(CM_INVALID, "crdt-lmdb: \"mapSize\" must be an integer ≥ 1048576");
        map_size = v.get<size_t>();
      } else if (k != "dir") {
        throw Error(CM_INVALID, "crdt-lmdb: unknown option \"" + k + "\" (dir, mapSize)");
      }
    }
    fs::path dir = j["dir"].get<std::string>();
    if (!dir.is_absolute()) throw Error(CM_INVALID, "crdt-lmdb: \"dir\" must be an absolute path");
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::path canon = fs::weakly_canonical(dir, ec);
    dir_ = ec ? dir.string() : canon.string();
    {
      std::lock_guard lk(open_mu());
      if (!open_dirs().insert(dir_).second) throw Error(CM_CONFLICT, "crdt-lmdb: " + dir_ + " is already open in this process (LMDB allows one environment per directory)");
    }
    try {
      env_ = open_env(dir_, map_size, "crdt-lmdb");
      Txn t(env_, true);
      int rc;
      if ((rc = mdb_dbi_open(t.get(), "updates", MDB_CREATE, &updates_)) || (rc = mdb_dbi_open(t.get(), "docs", MDB_CREATE, &docs_)) || (rc = t.commit()))
        lmdb_fail("open databases", rc);
    } catch (...) {
      if (env_) mdb_env_close(env_);
      std::lock_guard lk(open_mu());
      open_dirs().erase(dir_);
      throw;
    }
  }

  ~LmdbCrdt() override {
    mdb_env_close(env_);
    std::lock_guard lk(open_mu());
    open_dirs().erase(dir_);
  }

  Status health() override {
    Txn t(env_, false);
    return Status::Ok();
  }

  Status append(const Tenant& tn, std::string_view doc, std::string_view update, uint64_t& seq) override {
    check_doc(doc);
    const DocKeys keys(tn, doc);
    std::lock_guard lk(write_mu_);  // queue here rather than inside LMDB's writer lock
    Txn t(env_, true);
    seq = last_seq(t.get(), keys, doc).value_or(0) + 1;
    std::string last;
    put_be(last, seq, 8);
    if (keys.digest) last += doc;
    const std::string uk = keys.update(seq);
    MDB_val ck = val(keys.catalog), cv = val(last), k = val(uk), v = val(update);
    int rc;
    if ((rc = mdb_put(t.get(), updates_, &k, &v, 0)) || (rc = mdb_put(t.get(), docs_, &ck, &cv, 0))) lmdb_fail("append", rc);
    if ((rc = t.commit())) lmdb_fail("commit", rc);
    return Status::Ok();
  }

  // Streams from one read snapshot; fn runs with no lock held (a read
  // transaction blocks nobody).
  Status read(const Tenant& tn, std::string_view doc, uint64_t after, UpdateFn fn, void* ctx) override {
    check_doc(doc);
    const DocKeys keys(tn, doc);
    Txn t(env_, false);
    if (keys.digest) last_seq(t.get(), keys, doc);  // checks the full id
    if (after == UINT64_MAX) return Status::Ok();
    Cursor c(t.get(), updates_);
    const std::string start = keys.update(after + 1);
    MDB_val k = val(start), v;
    int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && has_prefix(k, keys.prefix) && k.mv_size == keys.prefix.size() + 8; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
      const uint64_t seq = get_be64(static_cast<const char*>(k.mv_data) + keys.prefix.size());
      if (fn(ctx, seq, {static_cast<const char*>(v.mv_data), v.mv_size}) != 0) return Status::Error(CM_UNAVAILABLE, "reader asked to stop");
    }
    if (rc != 0 && rc != MDB_NOTFOUND) lmdb_fail("read", rc);
    return Status::Ok();
  }

  Status compact(const Tenant& tn, std::string_view doc, uint64_t upto, std::string_view merged) override {
    check_doc(doc);
    const DocKeys keys(tn, doc);
    std::lock_guard lk(write_mu_);
    Txn t(env_, true);
    auto last = last_seq(t.get(), keys, doc);
    if (!last) return Status::NotFound("no document " + shown(doc));
    if (upto == 0 || upto > *last) return Status::Invalid("compaction bound " + std::to_string(upto) + " is outside the log (1.." + std::to_string(*last) + ")");
    delete_updates(t.get(), keys, upto);
    const std::string uk = keys.update(upto);
    MDB_val k = val(uk), v = val(merged);
    int rc;
    if ((rc = mdb_put(t.get(), updates_, &k, &v, 0))) lmdb_fail("compact", rc);
    if ((rc = t.commit())) lmdb_fail("commit", rc);
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view doc) override {
    check_doc(doc);
    const DocKeys keys(tn, doc);
    std::lock_guard lk(write_mu_);
    Txn t(env_, true);
    if (!last_seq(t.get(), keys, doc)) return Status::NotFound("no document " + shown(doc));
    MDB_val ck = val(keys.catalog);
    int rc;
    if ((rc = mdb_del(t.get(), docs_, &ck, nullptr))) lmdb_fail("remove", rc);
    delete_updates(t.get(), keys, UINT64_MAX);
    if ((rc = t.commit())) lmdb_fail("commit", rc);
    return Status::Ok();
  }

  Status list(const Tenant& tn, const Sink& out) override {
    Txn t(env_, false);
    Cursor c(t.get(), docs_);
    std::string prefix, text;
    put_be(prefix, tn.tn_id, 4);
    MDB_val k = val(prefix), v;
    int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && has_prefix(k, prefix); rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
      std::string_view key = view(k).substr(4);
      text += key.find('\0') == std::string_view::npos ? key : view(v).substr(8);  // digest keys: the id is in the value
      text += '\n';
      if (text.size() >= 64 * 1024) {
        if (!out.write(text)) return Status::Error(CM_UNAVAILABLE, "reader went away");
        text.clear();
      }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) lmdb_fail("list", rc);
    if (!text.empty() && !out.write(text)) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

 private:
  static std::string shown(std::string_view doc) { return doc.size() <= 60 ? "'" + std::string(doc) + "'" : "(" + std::to_string(doc.size()) + "-byte id)"; }

  // The document's last sequence number (nullopt: no such document).
  std::optional<uint64_t> last_seq(MDB_txn* t, const DocKeys& keys, std::string_view doc) {
    MDB_val k = val(keys.catalog), v;
    int rc = mdb_get(t, docs_, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc) lmdb_fail("get", rc);
    if (v.mv_size < 8) throw Error(CM_INTERNAL, "crdt-lmdb: corrupt catalog entry");
    if (keys.digest && view(v).substr(8) != doc) throw Error(CM_CONFLICT, "crdt-lmdb: document key digest collision for " + shown(doc));
    return get_be64(v.mv_data);
  }

  // Deletes the document's updates with seq <= upto (re-seeking after each
  // delete keeps clear of cursor-after-delete subtleties).
  void delete_updates(MDB_txn* t, const DocKeys& keys, uint64_t upto) {
    Cursor c(t, updates_);
    for (;;) {
      MDB_val k = val(keys.prefix), v;
      int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND) return;
      if (rc) lmdb_fail("cursor", rc);
      if (!has_prefix(k, keys.prefix) || k.mv_size != keys.prefix.size() + 8 || get_be64(static_cast<const char*>(k.mv_data) + keys.prefix.size()) > upto) return;
      if ((rc = mdb_cursor_del(c.get(), 0))) lmdb_fail("delete", rc);
    }
  }

  std::string dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi updates_ = 0, docs_ = 0;
  std::mutex write_mu_;
};

}  // namespace

CUMULO_PLUGIN("crdt-lmdb", "0.2.0", "Yjs update logs per document on LMDB", CM_KIND_CRDT) {
  reg.add<LmdbCrdt>("crdt-lmdb", R"({"type":"object","required":["dir"],"properties":{"dir":{"type":"string"},"mapSize":{"type":"integer","minimum":1048576}}})");
}
