// hello-blob: the smallest blob adapter — an in-memory content store.
// Blobs live in a map keyed by (tenant, id); nothing survives the instance.
#include <cumulo/sdk.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::BlobAdapter;
using cumulo::sdk::BlobWriter;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

// The id rule every blob adapter follows (docs/sdk.md): 1-128 chars of
// [A-Za-z0-9._~-] starting with a letter or digit.
bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  for (char c : id)
    if (!alnum(c) && c != '.' && c != '_' && c != '~' && c != '-') return false;
  return true;
}

Status bad_id() { return Status::Invalid("invalid blob id"); }

// Bytes are shared immutably so a reader can stream without holding the lock.
using Bytes = std::shared_ptr<const std::string>;

class HelloBlob final : public BlobAdapter {
 public:
  explicit HelloBlob(std::string_view /*options_json: none needed*/) {}

  Status health() override { return Status::Ok(); }  // memory never goes down

  Status open_writer(const Tenant& tn, std::unique_ptr<BlobWriter>& out) override {
    out = std::make_unique<Writer>(*this, tn.tn_id);
    return Status::Ok();
  }

  Status read(const Tenant& tn, std::string_view id, uint64_t offset, uint64_t length, const Sink& out) override {
    if (!valid_id(id)) return bad_id();
    Bytes b = find(tn.tn_id, id);
    if (!b) return Status::NotFound("no such blob");
    if (offset > b->size()) return Status::Invalid("offset beyond end of blob");
    uint64_t avail = b->size() - offset;  // also clamps length == UINT64_MAX
    uint64_t n = length < avail ? length : avail;
    constexpr uint64_t kChunk = 64 * 1024;  // keep each sink write bounded
    for (uint64_t pos = offset; pos < offset + n; pos += kChunk) {
      uint64_t len = (offset + n - pos) < kChunk ? (offset + n - pos) : kChunk;
      if (!out.write(std::string_view(*b).substr(pos, len))) return Status::Error(CM_UNAVAILABLE, "reader went away");
    }
    return Status::Ok();
  }

  Status stat(const Tenant& tn, std::string_view id, uint64_t& size) override {
    if (!valid_id(id)) return bad_id();
    Bytes b = find(tn.tn_id, id);
    if (!b) return Status::NotFound("no such blob");
    size = b->size();
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view id) override {
    if (!valid_id(id)) return bad_id();
    std::lock_guard lock(mu_);
    auto it = blobs_.find(Key{tn.tn_id, std::string(id)});
    if (it == blobs_.end()) return Status::NotFound("no such blob");
    blobs_.erase(it);
    return Status::Ok();
  }

  Status list(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    std::string text;  // built under the lock, written after it (the sink may be slow)
    {
      std::lock_guard lock(mu_);
      uint32_t count = 0;
      for (auto it = blobs_.upper_bound(Key{tn.tn_id, std::string(after)}); it != blobs_.end() && it->first.first == tn.tn_id; ++it) {
        if (limit != 0 && count++ == limit) break;  // 0 = no limit
        text += it->first.second;
        text += '\n';
      }
    }
    if (!text.empty() && !out.write(text)) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

 private:
  using Key = std::pair<uint32_t, std::string>;

  // Buffers the upload; only commit makes it visible, so an abort leaves nothing.
  // It refers to its store: the host ends every writer before the instance.
  class Writer final : public BlobWriter {
   public:
    Writer(HelloBlob& store, uint32_t tn_id) : store_(store), tn_id_(tn_id) {}
    Status write(std::string_view bytes) override {
      buf_.append(bytes);
      return Status::Ok();
    }
    Status commit(std::string_view id) override {
      if (!valid_id(id)) return bad_id();
      auto b = std::make_shared<const std::string>(std::move(buf_));
      std::lock_guard lock(store_.mu_);
      store_.blobs_[Key{tn_id_, std::string(id)}] = std::move(b);  // content-addressed: same id, same bytes
      return Status::Ok();
    }

   private:
    HelloBlob& store_;
    uint32_t tn_id_;
    std::string buf_;
  };

  Bytes find(uint32_t tn_id, std::string_view id) {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(Key{tn_id, std::string(id)});
    return it == blobs_.end() ? nullptr : it->second;
  }

  std::mutex mu_;
  std::map<Key, Bytes> blobs_;
};

}  // namespace

CUMULO_PLUGIN("hello-blob", HELLO_VERSION, "Sample: blobs kept in memory", CM_KIND_BLOB) {
  reg.add<HelloBlob>("hello-blob");
}
