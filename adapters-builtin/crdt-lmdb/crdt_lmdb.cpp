// crdt-lmdb: the per-document Yjs update log on LMDB.
//
//   updates: <tn_id BE32><doc len BE16><doc id><seq BE64> → update bytes
//   docs:    <tn_id BE32><doc id>                         → last seq BE64
//
// Keys hold the tenant and the FULL document id (length-prefixed, so "a" and
// "ab" never share a range): the reference truncates ids and collides. LMDB
// keys are limited to 511 bytes, hence document ids of at most 400 bytes.
// An append is durable when it returns (LMDB commits synchronously).
#include <cumulo/sdk.hpp>
#include <lmdb.h>

#include "lmdb_util.hpp"

#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;
using cumulo::sdk::CrdtAdapter;
using cumulo::sdk::Error;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;
using namespace cumulo::adapters::lmdb;

constexpr size_t kMaxDocId = 400;

Status lmdb_error(const char* what, int rc) {
  return Status::Error(rc == MDB_MAP_FULL ? CM_TOO_LARGE : CM_IO, std::string("crdt-lmdb: ") + what + ": " + mdb_strerror(rc));
}

Status check_doc(std::string_view doc) {
  if (doc.empty() || doc.size() > kMaxDocId) return Status::Invalid("document id must be 1-" + std::to_string(kMaxDocId) + " bytes");
  if (doc.find('\n') != std::string_view::npos || doc.find('\0') != std::string_view::npos) return Status::Invalid("document id must not contain newline or NUL");
  return Status::Ok();
}

std::string doc_prefix(const Tenant& tn, std::string_view doc) {
  std::string k;
  put_be(k, tn.tn_id, 4);
  put_be(k, doc.size(), 2);
  k.append(doc);
  return k;
}

std::string update_key(const Tenant& tn, std::string_view doc, uint64_t seq) {
  std::string k = doc_prefix(tn, doc);
  put_be(k, seq, 8);
  return k;
}

std::string docs_key(const Tenant& tn, std::string_view doc) {
  std::string k;
  put_be(k, tn.tn_id, 4);
  k.append(doc);
  return k;
}

class LmdbCrdt : public CrdtAdapter {
 public:
  explicit LmdbCrdt(std::string_view options) {
    auto j = nlohmann::json::parse(options, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("dir") || !j["dir"].is_string())
      throw Error(CM_INVALID, "crdt-lmdb: options need {\"dir\": \"/abs/path\", \"mapSize\"?: bytes}");
    fs::path dir = j["dir"].get<std::string>();
    if (!dir.is_absolute()) throw Error(CM_INVALID, "crdt-lmdb: \"dir\" must be an absolute path");
    std::error_code ec;
    fs::create_directories(dir, ec);
    env_ = open_env(dir.string(), j.value("mapSize", size_t{1} << 30), "crdt-lmdb");
    Txn t(env_, true);
    int rc;
    if ((rc = mdb_dbi_open(t.get(), "updates", MDB_CREATE, &updates_)) || (rc = mdb_dbi_open(t.get(), "docs", MDB_CREATE, &docs_)) || (rc = t.commit()))
      throw Error(CM_IO, std::string("crdt-lmdb: cannot open databases: ") + mdb_strerror(rc));
  }
  ~LmdbCrdt() override {
    if (env_) mdb_env_close(env_);
  }

  Status health() override {
    Txn t(env_, false);
    return Status::Ok();
  }

  Status append(const Tenant& tn, std::string_view doc, std::string_view update, uint64_t& seq) override {
    if (auto st = check_doc(doc); !st.ok()) return st;
    std::lock_guard lk(write_mu_);  // LMDB allows one writer; queue here, not in LMDB's lock
    Txn t(env_, true);
    const std::string dk = docs_key(tn, doc);
    MDB_val k = val(dk), v;
    int rc = mdb_get(t.get(), docs_, &k, &v);
    uint64_t last = 0;
    if (rc == 0) last = get_be64(v.mv_data);
    else if (rc != MDB_NOTFOUND) return lmdb_error("get", rc);
    seq = last + 1;
    std::string seqv;
    put_be(seqv, seq, 8);
    const std::string uk = update_key(tn, doc, seq);
    MDB_val uk_v = val(uk), up = val(update), sv = val(seqv);
    if ((rc = mdb_put(t.get(), updates_, &uk_v, &up, 0))) return lmdb_error("put", rc);
    if ((rc = mdb_put(t.get(), docs_, &k, &sv, 0))) return lmdb_error("put", rc);
    if ((rc = t.commit())) return lmdb_error("commit", rc);
    return Status::Ok();
  }

  Status read(const Tenant& tn, std::string_view doc, uint64_t after, UpdateFn fn, void* ctx) override {
    if (auto st = check_doc(doc); !st.ok()) return st;
    Txn t(env_, false);
    Cursor c(t.get(), updates_);
    const std::string prefix = doc_prefix(tn, doc);
    const std::string start = update_key(tn, doc, after + 1);
    MDB_val k = val(start), v;
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
      if (!has_prefix(k, prefix) || k.mv_size != prefix.size() + 8) break;
      const uint64_t seq = get_be64(static_cast<const char*>(k.mv_data) + prefix.size());
      if (fn(ctx, seq, {static_cast<const char*>(v.mv_data), v.mv_size}) != 0) return Status::Error(CM_UNAVAILABLE, "reader went away");
    }
    return Status::Ok();
  }

  Status compact(const Tenant& tn, std::string_view doc, uint64_t upto, std::string_view merged) override {
    if (auto st = check_doc(doc); !st.ok()) return st;
    std::lock_guard lk(write_mu_);
    Txn t(env_, true);
    const std::string dk = docs_key(tn, doc);
    MDB_val k = val(dk), v;
    int rc = mdb_get(t.get(), docs_, &k, &v);
    if (rc == MDB_NOTFOUND) return Status::NotFound("no such document");
    if (rc) return lmdb_error("get", rc);
    if (upto == 0 || upto > get_be64(v.mv_data)) return Status::Invalid("compaction bound outside the log");
    if (auto st = delete_range(t, tn, doc, upto); !st.ok()) return st;
    const std::string uk = update_key(tn, doc, upto);
    MDB_val uk_v = val(uk), mv = val(merged);
    if ((rc = mdb_put(t.get(), updates_, &uk_v, &mv, 0))) return lmdb_error("put", rc);
    if ((rc = t.commit())) return lmdb_error("commit", rc);
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view doc) override {
    if (auto st = check_doc(doc); !st.ok()) return st;
    std::lock_guard lk(write_mu_);
    Txn t(env_, true);
    const std::string dk = docs_key(tn, doc);
    MDB_val k = val(dk);
    int rc = mdb_del(t.get(), docs_, &k, nullptr);
    if (rc == MDB_NOTFOUND) return Status::NotFound("no such document");
    if (rc) return lmdb_error("del", rc);
    if (auto st = delete_range(t, tn, doc, UINT64_MAX); !st.ok()) return st;
    if ((rc = t.commit())) return lmdb_error("commit", rc);
    return Status::Ok();
  }

  Status list(const Tenant& tn, const Sink& out) override {
    Txn t(env_, false);
    Cursor c(t.get(), docs_);
    std::string prefix;
    put_be(prefix, tn.tn_id, 4);
    MDB_val k = val(prefix), v;
    for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0 && has_prefix(k, prefix); rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
      std::string line(static_cast<const char*>(k.mv_data) + 4, k.mv_size - 4);
      line.push_back('\n');
      if (!out.write(line)) return Status::Error(CM_UNAVAILABLE, "reader went away");
    }
    return Status::Ok();
  }

 private:
  // Deletes the doc's updates with seq <= upto.
  Status delete_range(Txn& t, const Tenant& tn, std::string_view doc, uint64_t upto) {
    Cursor c(t.get(), updates_);
    const std::string prefix = doc_prefix(tn, doc);
    MDB_val k = val(prefix), v;
    int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
    while (rc == 0 && has_prefix(k, prefix) && k.mv_size == prefix.size() + 8 && get_be64(static_cast<const char*>(k.mv_data) + prefix.size()) <= upto) {
      if ((rc = mdb_cursor_del(c.get(), 0))) return lmdb_error("del", rc);
      rc = mdb_cursor_get(c.get(), &k, &v, MDB_GET_CURRENT);
      if (rc == MDB_NOTFOUND || rc == EINVAL) rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("cursor", rc);
    return Status::Ok();
  }

  MDB_env* env_ = nullptr;
  MDB_dbi updates_ = 0, docs_ = 0;
  std::mutex write_mu_;
};

}  // namespace

CUMULO_PLUGIN("crdt-lmdb", "0.1.0", "Yjs update logs per document on LMDB", CM_KIND_CRDT) {
  reg.add<LmdbCrdt>("crdt-lmdb", R"({"type":"object","required":["dir"],"properties":{"dir":{"type":"string"},"mapSize":{"type":"integer"}}})");
}
