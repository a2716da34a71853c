// blob-rocksdb: content-addressed blobs in RocksDB, chunked.
//
//   M <tn BE32> <id>         → size BE64, chunk count BE32, generation BE64, chunk size BE32
//   C <generation BE64> <n>  → chunk n (256 KiB)
//   P <generation BE64>      → "" while a write is in progress
//
// A writer stages its chunks under a fresh generation (its writer id), so the
// blob is never whole in memory and commit never copies data: commit is one
// synced WriteBatch that publishes the M record and drops the P marker. A
// crash before that leaves P, and the next open deletes that generation's
// chunks: no partial blob is ever visible. Chunks live in RocksDB's blob files
// (integrated BlobDB), so compaction moves small references, not the bytes.
#include <cumulo/sdk.hpp>

#include "blob_id.hpp"
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <functional>
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

// 256 KiB chunks: every chunk-sized buffer on the write and read paths (the
// WriteBatch, the blob-file read, the pinned value) is transient, and with
// 1 MiB chunks they added ~3 MiB of RSS while streaming.
constexpr size_t kChunk = 256 << 10;
constexpr size_t kSinkPiece = 256 << 10;
constexpr size_t kStripes = 64;  // commit/remove locks, by (tenant, id)

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

std::string tenant_prefix(uint32_t tn_id) {
  std::string k = "M";
  put_be(k, tn_id, 4);
  return k;
}
std::string meta_key(uint32_t tn_id, std::string_view id) { return tenant_prefix(tn_id).append(id); }
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
  uint32_t chunk_size = kChunk;  // recorded per blob, so the constant can change
};
std::string encode(const Meta& m) {
  std::string v;
  put_be(v, m.size, 8);
  put_be(v, m.chunks, 4);
  put_be(v, m.gen, 8);
  put_be(v, m.chunk_size, 4);
  return v;
}
bool decode(std::string_view v, Meta& m) {
  if (v.size() != 20 && v.size() != 24) return false;
  m.size = get_be(v.data(), 8);
  m.chunks = static_cast<uint32_t>(get_be(v.data() + 8, 4));
  m.gen = get_be(v.data() + 12, 8);
  m.chunk_size = v.size() == 24 ? static_cast<uint32_t>(get_be(v.data() + 20, 4)) : (1u << 20);  // 20 bytes: 0.1.0, 1 MiB chunks
  return m.chunk_size > 0;
}
Status corrupt() { return Status::Error(CM_IO, "blob-rocksdb: corrupt meta record"); }

// Point deletes (count known): many small range tombstones slow reads down.
void delete_chunks(rocksdb::WriteBatch& b, uint64_t gen, uint32_t chunks) {
  for (uint32_t n = 0; n < chunks; ++n) b.Delete(chunk_key(gen, n));
}

class RocksBlob;

class RocksWriter final : public BlobWriter {
 public:
  RocksWriter(RocksBlob& store, uint32_t tn_id, uint64_t gen) : store_(store), tn_id_(tn_id), gen_(gen) {}
  ~RocksWriter() override { abort(); }
  RocksWriter(const RocksWriter&) = delete;
  RocksWriter& operator=(const RocksWriter&) = delete;
  Status write(std::string_view bytes) override;
  Status commit(std::string_view id) override;
  void abort() override;

 private:
  Status put_chunk(std::string_view bytes);
  Status flush();
  RocksBlob& store_;
  uint32_t tn_id_;
  uint64_t gen_;
  std::string buf_;  // at most one chunk
  uint32_t chunks_ = 0;
  uint64_t size_ = 0;
  bool done_ = false;
};

class RocksBlob final : public BlobAdapter {
 public:
  explicit RocksBlob(std::string_view options) : rng_(std::random_device{}()) {
    auto j = nlohmann::json::parse(options, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(CM_INVALID, "blob-rocksdb: options must be a JSON object");
    for (const auto& [key, value] : j.items())
      if (key != "dir") throw Error(CM_INVALID, "blob-rocksdb: unknown option \"" + key + "\" (known: dir)");
    if (!j.contains("dir") || !j["dir"].is_string()) throw Error(CM_INVALID, "blob-rocksdb: option \"dir\" (absolute path) is required");
    const std::string dir = j["dir"].get<std::string>();
    if (dir.empty() || dir[0] != '/') throw Error(CM_INVALID, "blob-rocksdb: \"dir\" must be an absolute path");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);  // RocksDB creates only the last level
    if (ec) throw Error(CM_IO, "blob-rocksdb: cannot create " + dir + ": " + ec.message());

    rocksdb::Options o;
    o.create_if_missing = true;
    // Modest memory (the host has idle-RSS goals): blobs stream through, this
    // is not a cache workload. Measured with the 200 MiB conformance test
    // (RSS growth while streaming): 2 MiB memtables ~10 MiB, 4 MiB ones
    // ~13-15 MiB, and without blob files compaction of the chunks added ~20 MiB.
    // The price: a flush (several fsyncs) every 2 MiB caps write throughput.
    o.write_buffer_size = 2 << 20;
    o.max_write_buffer_number = 2;
    o.max_background_jobs = 2;
    o.max_open_files = 256;
    o.keep_log_file_num = 2;  // RocksDB's own info LOG, not the WAL
    o.max_log_file_size = 1 << 20;
    o.writable_file_max_buffer_size = 256 << 10;  // WAL and blob-file write buffers
    o.compression = rocksdb::kNoCompression;  // blobs are mostly compressed media already
    // Large values go to blob files: compaction then rewrites references only.
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.blob_file_size = 64 << 20;
    o.enable_blob_garbage_collection = true;  // reclaims removed blobs' space
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = rocksdb::NewLRUCache(4 << 20);
    t.cache_index_and_filter_blocks = true;  // index memory counts against the cache
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    rocksdb::DB* db = nullptr;
    auto s = rocksdb::DB::Open(o, dir, &db);
    if (!s.ok()) throw Error(CM_IO, "blob-rocksdb: cannot open " + dir + ": " + s.ToString());
    db_.reset(db);
    sweep_pending();
  }
  ~RocksBlob() override {
    if (db_) db_->Close();
  }
  RocksBlob(const RocksBlob&) = delete;
  RocksBlob& operator=(const RocksBlob&) = delete;

  Status health() override {
    uint64_t errors = 0;
    if (db_->GetIntProperty("rocksdb.background-errors", &errors) && errors > 0)
      return Status::Error(CM_IO, "blob-rocksdb: " + std::to_string(errors) + " background error(s); the database is read-only until reopened");
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
    // Not synced: the WAL is ordered, so any chunk that survives a crash
    // survives together with this marker, and the sweep finds it.
    if (auto st = rocks(db_->Put(rocksdb::WriteOptions(), pending_key(gen), ""), "mark pending"); !st.ok()) return st;
    out = std::make_unique<RocksWriter>(*this, tn.tn_id, gen);
    return Status::Ok();
  }

  Status read(const Tenant& tn, std::string_view id, uint64_t offset, uint64_t length, const Sink& out) override {
    if (auto st = check_id(id); !st.ok()) return st;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a streamed blob would only evict the index blocks
    const rocksdb::Snapshot* snap = db_->GetSnapshot();  // a concurrent remove cannot cut the stream
    ro.snapshot = snap;
    struct Release {
      rocksdb::DB* db;
      const rocksdb::Snapshot* s;
      ~Release() { db->ReleaseSnapshot(s); }
    } release{db_.get(), snap};
    std::string mv;
    auto s = db_->Get(ro, meta_key(tn.tn_id, id), &mv);
    if (s.IsNotFound()) return Status::NotFound("no such blob");
    if (!s.ok()) return rocks(s, "get");
    Meta m;
    if (!decode(mv, m)) return corrupt();
    if (offset > m.size) return Status::Invalid("offset " + std::to_string(offset) + " beyond end of blob (" + std::to_string(m.size) + " bytes)");
    uint64_t left = std::min(length, m.size - offset);
    uint64_t pos = offset;
    rocksdb::PinnableSlice chunk;  // one chunk at a time
    while (left > 0) {
      const uint32_t n = static_cast<uint32_t>(pos / m.chunk_size);
      chunk.Reset();
      if (auto st = rocks(db_->Get(ro, db_->DefaultColumnFamily(), chunk_key(m.gen, n), &chunk), "chunk " + std::to_string(n)); !st.ok()) return st;
      const size_t in = static_cast<size_t>(pos % m.chunk_size);
      if (chunk.size() <= in) return Status::Error(CM_IO, "blob-rocksdb: chunk " + std::to_string(n) + " is short");
      const size_t take = static_cast<size_t>(std::min<uint64_t>(left, chunk.size() - in));
      const std::string_view bytes(chunk.data() + in, take);
      for (size_t p = 0; p < take; p += kSinkPiece)
        if (!out.write(bytes.substr(p, kSinkPiece))) return Status::Error(CM_UNAVAILABLE, "reader went away");
      pos += take;
      left -= take;
    }
    return Status::Ok();
  }

  Status stat(const Tenant& tn, std::string_view id, uint64_t& size) override {
    if (auto st = check_id(id); !st.ok()) return st;
    std::string mv;
    auto s = db_->Get(rocksdb::ReadOptions(), meta_key(tn.tn_id, id), &mv);
    if (s.IsNotFound()) return Status::NotFound("no such blob");
    if (!s.ok()) return rocks(s, "get");
    Meta m;
    if (!decode(mv, m)) return corrupt();
    size = m.size;
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view id) override {
    if (auto st = check_id(id); !st.ok()) return st;
    const std::string key = meta_key(tn.tn_id, id);
    std::lock_guard lk(stripe(key));
    std::string mv;
    auto s = db_->Get(rocksdb::ReadOptions(), key, &mv);
    if (s.IsNotFound()) return Status::NotFound("no such blob");
    if (!s.ok()) return rocks(s, "get");
    Meta m;
    if (!decode(mv, m)) return corrupt();
    rocksdb::WriteBatch b;
    b.Delete(key);
    delete_chunks(b, m.gen, m.chunks);  // readers holding a snapshot still see them
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return rocks(db_->Write(wo, &b), "remove");
  }

  Status list(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    const std::string prefix = tenant_prefix(tn.tn_id);
    const std::string upper = tn.tn_id == UINT32_MAX ? std::string("N") : tenant_prefix(tn.tn_id + 1);
    const rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    std::string text;
    uint32_t n = 0;
    for (it->Seek(prefix + std::string(after)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string_view id(it->key().data() + prefix.size(), it->key().size() - prefix.size());
      if (id <= after) continue;
      if (limit && n++ >= limit) break;
      (text += id) += '\n';
    }
    if (auto st = rocks(it->status(), "list"); !st.ok()) return st;
    if (!text.empty() && !out.write(text)) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

 private:
  friend class RocksWriter;

  std::mutex& stripe(const std::string& meta) { return stripes_[std::hash<std::string>{}(meta) % kStripes]; }

  // Deletes the chunks of writes that never committed (crash or kill -9).
  // Runs before the instance serves: RocksDB allows one open per directory,
  // so no live writer of another instance can own a P marker here.
  void sweep_pending() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    rocksdb::WriteBatch b;
    for (it->Seek("P"); it->Valid() && it->key().starts_with("P"); it->Next()) {
      if (it->key().size() != 9) continue;
      const uint64_t gen = get_be(it->key().data() + 1, 8);
      // The chunk count died with the writer: one range over the generation.
      b.DeleteRange(chunk_key(gen, 0), chunk_key(gen + 1, 0));
      b.Delete(it->key());
    }
    if (b.Count() > 0) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      db_->Write(wo, &b);
    }
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
  std::array<std::mutex, kStripes> stripes_;
};

Status RocksWriter::put_chunk(std::string_view bytes) {
  const std::string key = chunk_key(gen_, chunks_);
  rocksdb::WriteBatch b(key.size() + bytes.size() + 32);  // sized once: no regrowth copies
  if (auto st = rocks(b.Put(key, rocksdb::Slice(bytes.data(), bytes.size())), "stage chunk"); !st.ok()) return st;
  if (auto st = rocks(store_.db_->Write(rocksdb::WriteOptions(), &b), "write chunk"); !st.ok()) return st;
  ++chunks_;
  return Status::Ok();
}

Status RocksWriter::flush() {
  if (buf_.empty()) return Status::Ok();
  auto st = put_chunk(buf_);
  if (st.ok()) buf_.clear();
  return st;
}

Status RocksWriter::write(std::string_view bytes) {
  if (done_) return Status::Invalid("blob-rocksdb: writer already finished");
  // Whole chunks straight from the caller's buffer: no staging copy.
  while (buf_.empty() && bytes.size() >= kChunk) {
    if (auto st = put_chunk(bytes.substr(0, kChunk)); !st.ok()) return st;
    bytes.remove_prefix(kChunk);
    size_ += kChunk;
  }
  if (!bytes.empty() && buf_.capacity() < kChunk) buf_.reserve(kChunk);
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

// On failure the SDK calls abort(), which drops the staged chunks.
Status RocksWriter::commit(std::string_view id) {
  if (done_) return Status::Invalid("blob-rocksdb: writer already finished");
  if (auto st = check_id(id); !st.ok()) return st;
  if (auto st = flush(); !st.ok()) return st;
  const std::string key = meta_key(tn_id_, id);
  std::lock_guard lk(store_.stripe(key));
  rocksdb::WriteBatch b;
  std::string existing;
  auto s = store_.db_->Get(rocksdb::ReadOptions(), key, &existing);
  if (s.ok()) {
    // Content-addressed: the blob is already there with these bytes; drop ours.
    delete_chunks(b, gen_, chunks_);
  } else if (s.IsNotFound()) {
    b.Put(key, encode(Meta{size_, chunks_, gen_, kChunk}));
  } else {
    return rocks(s, "commit");
  }
  b.Delete(pending_key(gen_));
  rocksdb::WriteOptions wo;
  wo.sync = true;  // also makes every earlier chunk durable (same WAL)
  if (auto st = rocks(store_.db_->Write(wo, &b), "commit"); !st.ok()) return st;
  done_ = true;
  buf_ = std::string();
  return Status::Ok();
}

void RocksWriter::abort() {
  if (done_) return;
  done_ = true;
  buf_ = std::string();
  rocksdb::WriteBatch b;
  delete_chunks(b, gen_, chunks_);
  b.Delete(pending_key(gen_));
  store_.db_->Write(rocksdb::WriteOptions(), &b);  // if this fails, the next open sweeps
}

}  // namespace

CUMULO_PLUGIN("blob-rocksdb", "0.2.0", "Content-addressed blobs in RocksDB, stored in 256 KiB chunks", CM_KIND_BLOB) {
  reg.add<RocksBlob>("blob-rocksdb", R"({"type":"object","required":["dir"],"additionalProperties":false,"properties":{"dir":{"type":"string"}}})");
}
