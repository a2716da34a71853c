// blob-rocksdb: content-addressed blobs in RocksDB, chunked.
//
//   M <tn BE32> <id>         → size BE64, chunk count BE32, generation BE64
//   C <generation BE64> <n>  → chunk n (1 MiB)
//   P <generation BE64>      → "" while a write is in progress
//
// A writer streams chunks under a fresh generation (never the whole blob in
// memory); commit is one synced WriteBatch that publishes the M record and
// drops the P marker. A crash before that leaves P, and the next open deletes
// that generation's chunks: no partial blob is ever visible.
#include <cumulo/sdk.hpp>

#include "blob_id.hpp"
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace {

using cumulo::sdk::BlobAdapter;
using cumulo::sdk::BlobWriter;
using cumulo::sdk::Error;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;
constexpr auto check_id = cumulo::adapters::check_blob_id;

constexpr size_t kChunk = 1 << 20;
constexpr size_t kSinkPiece = 256 * 1024;

void put_be(std::string& s, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_be(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

Status rocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  return Status::Error(s.IsNotFound() ? CM_NOT_FOUND : CM_IO, "blob-rocksdb: " + what + ": " + s.ToString());
}

std::string meta_key(const Tenant& tn, std::string_view id) {
  std::string k = "M";
  put_be(k, tn.tn_id, 4);
  k.append(id);
  return k;
}
std::string chunk_key(uint64_t gen, uint32_t n) {
  std::string k = "C";
  put_be(k, gen, 8);
  put_be(k, n, 4);
  return k;
}
std::string pending_key(uint64_t gen) {
  std::string k = "P";
  put_be(k, gen, 8);
  return k;
}

struct Meta {
  uint64_t size = 0;
  uint32_t chunks = 0;
  uint64_t gen = 0;
};
std::string encode(const Meta& m) {
  std::string v;
  put_be(v, m.size, 8);
  put_be(v, m.chunks, 4);
  put_be(v, m.gen, 8);
  return v;
}
Meta decode(const std::string& v) { return {get_be(v.data(), 8), static_cast<uint32_t>(get_be(v.data() + 8, 4)), get_be(v.data() + 12, 8)}; }

class RocksBlob;

class RocksWriter : public BlobWriter {
 public:
  RocksWriter(RocksBlob& store, Tenant tn, uint64_t gen) : store_(store), tn_id_(tn.tn_id), gen_(gen) {}
  ~RocksWriter() override { abort(); }
  Status write(std::string_view bytes) override;
  Status commit(std::string_view id) override;
  void abort() override;

 private:
  Status flush();
  RocksBlob& store_;
  uint32_t tn_id_;
  uint64_t gen_;
  std::string buf_;  // at most one chunk
  uint32_t chunks_ = 0;
  uint64_t size_ = 0;
  bool done_ = false;
};

class RocksBlob : public BlobAdapter {
 public:
  explicit RocksBlob(std::string_view options) : rng_(std::random_device{}()) {
    auto j = nlohmann::json::parse(options, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("dir") || !j["dir"].is_string())
      throw Error(CM_INVALID, "blob-rocksdb: options need {\"dir\": \"/abs/path\"}");
    const std::string dir = j["dir"].get<std::string>();
    if (dir.empty() || dir[0] != '/') throw Error(CM_INVALID, "blob-rocksdb: \"dir\" must be an absolute path");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);  // RocksDB creates only the last level
    if (ec) throw Error(CM_IO, "blob-rocksdb: cannot create " + dir + ": " + ec.message());
    rocksdb::Options o;
    o.create_if_missing = true;
    // Modest memory: blobs stream through, they are not a cache workload.
    o.write_buffer_size = 2 << 20;
    o.max_write_buffer_number = 2;
    o.max_background_jobs = 2;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = rocksdb::NewLRUCache(2 << 20);
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    o.compression = rocksdb::kNoCompression;  // blobs are mostly compressed media
    // Integrated BlobDB: chunk values go to blob files at flush, so compactions
    // move only small keys and never re-read megabytes of chunk data (this is
    // what keeps memory flat while a 200 MB blob streams in).
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.blob_file_size = 64 << 20;
    o.enable_blob_garbage_collection = true;
    rocksdb::DB* db = nullptr;
    auto s = rocksdb::DB::Open(o, dir, &db);
    if (!s.ok()) throw Error(CM_IO, "blob-rocksdb: cannot open " + dir + ": " + s.ToString());
    db_.reset(db);
    sweep_pending();
  }
  ~RocksBlob() override {
    if (db_) db_->Close();
  }

  Status health() override {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), "health", &v);
    return s.ok() || s.IsNotFound() ? Status::Ok() : rocks(s, "health");
  }

  Status open_writer(const Tenant& tn, std::unique_ptr<BlobWriter>& out) override {
    uint64_t gen;
    {
      std::lock_guard lk(rng_mu_);
      gen = rng_() | 1;  // never 0
    }
    if (auto st = rocks(db_->Put(rocksdb::WriteOptions(), pending_key(gen), ""), "mark pending"); !st.ok()) return st;
    out = std::make_unique<RocksWriter>(*this, tn, gen);
    return Status::Ok();
  }

  Status read(const Tenant& tn, std::string_view id, uint64_t offset, uint64_t length, const Sink& out) override {
    if (auto st = check_id(id); !st.ok()) return st;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    const rocksdb::Snapshot* snap = db_->GetSnapshot();  // a concurrent remove cannot cut the stream
    ro.snapshot = snap;
    struct Release {
      rocksdb::DB* db;
      const rocksdb::Snapshot* s;
      ~Release() { db->ReleaseSnapshot(s); }
    } release{db_.get(), snap};
    std::string mv;
    auto s = db_->Get(ro, meta_key(tn, id), &mv);
    if (s.IsNotFound()) return Status::NotFound("no such blob");
    if (!s.ok()) return rocks(s, "get");
    const Meta m = decode(mv);
    if (offset > m.size) return Status::Invalid("offset " + std::to_string(offset) + " beyond end of blob (" + std::to_string(m.size) + " bytes)");
    uint64_t left = std::min(length, m.size - offset);
    uint64_t pos = offset;
    std::string chunk;
    while (left > 0) {
      const uint32_t n = static_cast<uint32_t>(pos / kChunk);
      if (auto st = rocks(db_->Get(ro, chunk_key(m.gen, n), &chunk), "chunk"); !st.ok()) return st;
      size_t in = static_cast<size_t>(pos % kChunk);
      size_t take = static_cast<size_t>(std::min<uint64_t>(left, chunk.size() - in));
      for (size_t p = 0; p < take; p += kSinkPiece)
        if (!out.write(std::string_view(chunk).substr(in + p, std::min(kSinkPiece, take - p)))) return Status::Error(CM_UNAVAILABLE, "reader went away");
      pos += take;
      left -= take;
    }
    return Status::Ok();
  }

  Status stat(const Tenant& tn, std::string_view id, uint64_t& size) override {
    if (auto st = check_id(id); !st.ok()) return st;
    std::string mv;
    auto s = db_->Get(rocksdb::ReadOptions(), meta_key(tn, id), &mv);
    if (s.IsNotFound()) return Status::NotFound("no such blob");
    if (!s.ok()) return rocks(s, "get");
    size = decode(mv).size;
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view id) override {
    if (auto st = check_id(id); !st.ok()) return st;
    std::lock_guard lk(commit_mu_);
    std::string mv;
    auto s = db_->Get(rocksdb::ReadOptions(), meta_key(tn, id), &mv);
    if (s.IsNotFound()) return Status::NotFound("no such blob");
    if (!s.ok()) return rocks(s, "get");
    const Meta m = decode(mv);
    rocksdb::WriteBatch b;
    b.Delete(meta_key(tn, id));
    b.DeleteRange(chunk_key(m.gen, 0), chunk_key(m.gen + 1, 0));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return rocks(db_->Write(wo, &b), "remove");
  }

  Status list(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    const std::string prefix = meta_key(tn, "");
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string start = prefix + std::string(after);
    uint32_t n = 0;
    for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string id = it->key().ToString().substr(prefix.size());
      if (id <= after) continue;
      if (limit && n++ >= limit) break;
      if (!out.write(id + "\n")) return Status::Error(CM_UNAVAILABLE, "reader went away");
    }
    return rocks(it->status(), "list");
  }

 private:
  friend class RocksWriter;

  // Deletes the chunks of writes that never committed (crash or abort).
  void sweep_pending() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    rocksdb::WriteBatch b;
    for (it->Seek("P"); it->Valid() && it->key().starts_with("P"); it->Next()) {
      uint64_t gen = get_be(it->key().data() + 1, 8);
      b.DeleteRange(chunk_key(gen, 0), chunk_key(gen + 1, 0));
      b.Delete(it->key());
    }
    if (b.Count() > 0) db_->Write(rocksdb::WriteOptions(), &b);
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::mutex rng_mu_, commit_mu_;
  std::mt19937_64 rng_;
};

Status RocksWriter::flush() {
  if (buf_.empty()) return Status::Ok();
  auto st = rocks(store_.db_->Put(rocksdb::WriteOptions(), chunk_key(gen_, chunks_), buf_), "write chunk");
  if (st.ok()) {
    ++chunks_;
    buf_.clear();
  }
  return st;
}

Status RocksWriter::write(std::string_view bytes) {
  if (done_) return Status::Invalid("writer already finished");
  while (!bytes.empty()) {
    size_t take = std::min(bytes.size(), kChunk - buf_.size());
    buf_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    size_ += take;
    if (buf_.size() == kChunk)
      if (auto st = flush(); !st.ok()) return st;
  }
  return Status::Ok();
}

Status RocksWriter::commit(std::string_view id) {
  if (done_) return Status::Invalid("writer already finished");
  if (auto st = check_id(id); !st.ok()) return st;
  if (auto st = flush(); !st.ok()) return st;
  Tenant tn{tn_id_, {}};
  std::lock_guard lk(store_.commit_mu_);
  rocksdb::WriteBatch b;
  std::string existing;
  auto s = store_.db_->Get(rocksdb::ReadOptions(), meta_key(tn, id), &existing);
  if (s.ok()) {
    // Content-addressed: the blob is already there; drop our copy.
    b.DeleteRange(chunk_key(gen_, 0), chunk_key(gen_ + 1, 0));
  } else if (s.IsNotFound()) {
    b.Put(meta_key(tn, id), encode(Meta{size_, chunks_, gen_}));
  } else {
    return rocks(s, "commit");
  }
  b.Delete(pending_key(gen_));
  rocksdb::WriteOptions wo;
  wo.sync = true;  // also makes every earlier chunk durable (same WAL)
  if (auto st = rocks(store_.db_->Write(wo, &b), "commit"); !st.ok()) return st;
  done_ = true;
  return Status::Ok();
}

void RocksWriter::abort() {
  if (done_) return;
  done_ = true;
  rocksdb::WriteBatch b;
  b.DeleteRange(chunk_key(gen_, 0), chunk_key(gen_ + 1, 0));
  b.Delete(pending_key(gen_));
  store_.db_->Write(rocksdb::WriteOptions(), &b);
}

}  // namespace

CUMULO_PLUGIN("blob-rocksdb", "0.1.0", "Content-addressed blobs in RocksDB, stored in 1 MiB chunks", CM_KIND_BLOB) {
  reg.add<RocksBlob>("blob-rocksdb", R"({"type":"object","required":["dir"],"properties":{"dir":{"type":"string"}}})");
}
