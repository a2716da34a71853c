// hello-crdt: the smallest CRDT log adapter — per-document append-only lists of
// opaque (Yjs) updates in memory, numbered from 1, with compaction.
#include <cumulo/sdk.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::CrdtAdapter;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

// Well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
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

// The document-id rule of every crdt adapter (docs/sdk.md): 1-1024 bytes of
// UTF-8, no newline (list() is line-based) and no NUL.
bool valid_doc(std::string_view doc) {
  return !doc.empty() && doc.size() <= 1024 && utf8(doc) && doc.find('\n') == std::string_view::npos && doc.find('\0') == std::string_view::npos;
}

constexpr const char* kBadId = "document id must be 1-1024 bytes of UTF-8 without newline or NUL";

class HelloCrdt final : public CrdtAdapter {
 public:
  explicit HelloCrdt(std::string_view /*options_json: none needed*/) {}

  Status append(const Tenant& tn, std::string_view doc, std::string_view update, uint64_t& seq) override {
    if (!valid_doc(doc)) return Status::Invalid(kBadId);
    std::lock_guard lock(mu_);
    Log& log = docs_[Key{tn.tn_id, std::string(doc)}];
    seq = ++log.last_seq;
    log.entries.emplace_back(seq, std::string(update));
    return Status::Ok();
  }

  Status read(const Tenant& tn, std::string_view doc, uint64_t after, UpdateFn fn, void* ctx) override {
    if (!valid_doc(doc)) return Status::Invalid(kBadId);
    std::vector<Entry> todo;  // copied so fn runs unlocked (it may call back into us)
    {
      std::lock_guard lock(mu_);
      auto it = docs_.find(Key{tn.tn_id, std::string(doc)});
      if (it == docs_.end()) return Status::Ok();  // an unknown doc is an empty log
      for (const Entry& e : it->second.entries)
        if (e.first > after) todo.push_back(e);
    }
    for (const Entry& e : todo) {
      // Same convention as a sink: nonzero means the host wants us to stop.
      if (fn(ctx, e.first, {e.second.data(), e.second.size()}) != 0) return Status::Error(CM_UNAVAILABLE, "reader went away");
    }
    return Status::Ok();
  }

  // Entries 1..upto become one entry with seq `upto`, so readers that already
  // saw `upto` skip it and newer appends keep their numbers.
  Status compact(const Tenant& tn, std::string_view doc, uint64_t upto, std::string_view merged) override {
    if (!valid_doc(doc)) return Status::Invalid(kBadId);
    std::lock_guard lock(mu_);
    auto it = docs_.find(Key{tn.tn_id, std::string(doc)});
    if (it == docs_.end()) return Status::NotFound("no such document");
    Log& log = it->second;
    if (upto == 0 || upto > log.last_seq) return Status::Invalid("compaction bound outside the log");
    std::vector<Entry> kept;
    kept.emplace_back(upto, std::string(merged));
    for (Entry& e : log.entries)
      if (e.first > upto) kept.push_back(std::move(e));
    log.entries = std::move(kept);
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view doc) override {
    if (!valid_doc(doc)) return Status::Invalid(kBadId);
    std::lock_guard lock(mu_);
    if (docs_.erase(Key{tn.tn_id, std::string(doc)}) == 0) return Status::NotFound("no such document");
    return Status::Ok();
  }

  // Document ids of the tenant, one per line.
  Status list(const Tenant& tn, const Sink& out) override {
    std::string text;
    {
      std::lock_guard lock(mu_);
      for (auto it = docs_.lower_bound(Key{tn.tn_id, ""}); it != docs_.end() && it->first.first == tn.tn_id; ++it) text += it->first.second + "\n";
    }
    if (!text.empty() && !out.write(text)) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

 private:
  using Key = std::pair<uint32_t, std::string>;    // (tenant, doc)
  using Entry = std::pair<uint64_t, std::string>;  // (seq, update bytes)
  struct Log {
    uint64_t last_seq = 0;
    std::vector<Entry> entries;
  };

  std::mutex mu_;
  std::map<Key, Log> docs_;
};

}  // namespace

CUMULO_PLUGIN("hello-crdt", HELLO_VERSION, "Sample: CRDT update logs in memory", CM_KIND_CRDT) {
  reg.add<HelloCrdt>("hello-crdt");
}
