#include "app/migrate.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "plugins/adapters.hpp"

namespace cumulo::app {

namespace {

using json = nlohmann::json;
using plugins::AdapterHandle;
using plugins::BlobHandle;
using plugins::CrdtHandle;
using plugins::PluginError;
using plugins::TenantRef;

constexpr uint32_t kPageItems = 1000;           // items per export / ids per list call
constexpr size_t kPageBytes = size_t{8} << 20;  // an export page stops growing here
constexpr uint64_t kBlobChunk = 1 << 20;        // bytes per blob read
constexpr uint64_t kReportBytes = 64 << 20;     // blob progress at least this often

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 init failed");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view s) {
    if (EVP_DigestUpdate(ctx_, s.data(), s.size()) != 1) throw std::runtime_error("SHA-256 update failed");
  }
  /// The 32-byte digest (once).
  std::string raw() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (EVP_DigestFinal_ex(ctx_, md, &n) != 1) throw std::runtime_error("SHA-256 final failed");
    return std::string(reinterpret_cast<char*>(md), n);
  }
  std::string hex() {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw()) out += digits[c >> 4], out += digits[c & 15];
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// "b1~" + unpadded base64url of a SHA-256 digest: the host's blob address.
std::string blob_address(const std::string& digest) {
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, reinterpret_cast<const unsigned char*>(digest.data()), static_cast<int>(digest.size()));
  std::string s(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
  for (auto& c : s) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return "b1~" + s;
}

// ---- the item stream of one adapter's dump ------------------------------------------

struct Item {
  std::string t, k;
  std::string line;  // as exported, "\n"-terminated
  json v;
  bool operator<(const Item& o) const { return t != o.t ? t < o.t : k < o.k; }
  /// {"k","t","v"} with sorted keys: what comparisons and hashes use.
  std::string canonical() const { return json{{"t", t}, {"k", k}, {"v", v}}.dump(); }
};

// Pages through export_tenant; each page is at most kPageItems items or
// about kPageBytes (the sink stops the adapter once a whole line is past it).
class ItemStream {
 public:
  ItemStream(const AdapterHandle& h, const TenantRef& tn) : h_(h), tn_(tn) {}

  std::optional<Item> next() {
    if (pos_ == page_.size()) {
      if (end_) return std::nullopt;
      fill();
      if (page_.empty()) return std::nullopt;
    }
    return std::move(page_[pos_++]);
  }

 private:
  void fill() {
    page_.clear();
    pos_ = 0;
    std::string buf;
    bool complete = h_.export_tenant(tn_, cursor_, kPageItems, [&](std::string_view chunk) {
      buf.append(chunk);
      return !(buf.size() >= kPageBytes && buf.find('\n') != std::string::npos);
    });
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = buf.substr(start, nl - start + 1);
      if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("t") || !j["t"].is_string() || !j.contains("k") || !j["k"].is_string() || !j.contains("v"))
        throw MigrationError(h_.describe() + " exported a malformed item: " + line.substr(0, 200));
      Item it{j["t"].get<std::string>(), j["k"].get<std::string>(), std::move(line), std::move(j["v"])};
      // The merge-walk needs the documented order; an adapter that breaks it
      // would make us delete what we just copied.
      if (last_ && !(*last_ < it))
        throw MigrationError(h_.describe() + " exported items out of order (\"" + it.t +
                             "\" item after a later key): the dump must be sorted by type, then key, bytewise");
      last_ = Item{it.t, it.k, {}, {}};
      page_.push_back(std::move(it));
    }
    if (complete && start != buf.size()) throw MigrationError(h_.describe() + " exported an item without its terminating newline");
    if (page_.empty()) {
      end_ = true;
      return;
    }
    cursor_ = page_.back().t + "\n" + page_.back().k;
    if (complete && page_.size() < kPageItems) end_ = true;
  }

  const AdapterHandle& h_;
  const TenantRef& tn_;
  std::string cursor_;
  std::vector<Item> page_;
  size_t pos_ = 0;
  bool end_ = false;
  std::optional<Item> last_;
};

// Blob ids in ascending order, a page of list() at a time.
class BlobIds {
 public:
  BlobIds(const BlobHandle& h, const TenantRef& tn) : h_(h), tn_(tn) {}
  std::optional<std::string> next() {
    if (pos_ == page_.size()) {
      if (end_) return std::nullopt;
      page_.clear();
      pos_ = 0;
      std::istringstream in(h_.list(tn_, after_, kPageItems));
      for (std::string id; std::getline(in, id);)
        if (!id.empty()) page_.push_back(std::move(id));
      if (page_.size() < kPageItems) end_ = true;
      if (page_.empty()) return std::nullopt;
      if (page_.front() <= after_ && !after_.empty()) throw MigrationError(h_.describe() + " listed blob ids out of order");
      after_ = page_.back();
    }
    return std::move(page_[pos_++]);
  }

 private:
  const BlobHandle& h_;
  const TenantRef& tn_;
  std::string after_;
  std::vector<std::string> page_;
  size_t pos_ = 0;
  bool end_ = false;
};

std::vector<std::string> crdt_docs(const CrdtHandle& h, const TenantRef& tn) {
  std::vector<std::string> docs;
  std::istringstream in(h.list(tn));
  for (std::string d; std::getline(in, d);)
    if (!d.empty()) docs.push_back(std::move(d));
  std::sort(docs.begin(), docs.end());
  docs.erase(std::unique(docs.begin(), docs.end()), docs.end());
  return docs;
}

const char* const kKinds[] = {"auth", "meta", "rtdb", "blob", "crdt"};

// One kind's move from `src` to `dst` for one tenant.
class KindMove {
 public:
  KindMove(std::string kind, const TenantRef& tn, const MigrationOptions& opts, KindReport& rep) : kind_(std::move(kind)), tn_(tn), opts_(opts), rep_(rep) {}

  void items(const AdapterHandle& src, const AdapterHandle& dst) {
    uint64_t total = 0, total_bytes = 0;
    {
      ItemStream s(src, tn_);
      while (auto it = s.next()) step("scan", ++total, 0, total_bytes += it->line.size(), 0);
      report("scan", total, total, total_bytes, total_bytes, true);
    }
    ItemStream S(src, tn_), T(dst, tn_);
    std::string batch;
    uint32_t batched = 0;
    uint64_t walked = 0, walked_bytes = 0;
    auto commit = [&] {
      if (batched) dst.import_items(tn_, batch);  // atomic: the batch lands whole or not at all
      batch.clear();
      batched = 0;
    };
    auto a = S.next();
    auto b = T.next();
    while (a || b) {
      if (b && (!a || *b < *a)) {  // only in the target: the source no longer has it
        batch += json{{"t", b->t}, {"k", b->k}, {"v", nullptr}}.dump() + "\n";
        ++batched, ++rep_.deleted;
        b = T.next();
      } else {
        const bool both = b && !(*a < *b);
        if (!both || a->v.dump() != b->v.dump()) {  // canonical text: what verification hashes
          batch += a->line;
          ++batched, ++rep_.written;
        }
        walked_bytes += a->line.size();
        if (both) b = T.next();
        a = S.next();
        step("copy", ++walked, total, walked_bytes, total_bytes);
      }
      if (batched >= opts_.batch || batch.size() >= opts_.batch_bytes) commit();
    }
    commit();
    report("copy", walked, total, walked_bytes, total_bytes, true);

    uint64_t n_src = 0, n_dst = 0, b_src = 0, b_dst = 0;
    // Both sides are read: the verify count runs to twice the items.
    std::string h_src = digest_items(src, n_src, b_src, 0, 0, total, total_bytes);
    std::string h_dst = digest_items(dst, n_dst, b_dst, n_src, b_src, total, total_bytes);
    report("verify", n_src + n_dst, 2 * total, b_src + b_dst, 2 * total_bytes, true);
    if (n_src != n_dst || h_src != h_dst)
      throw MigrationError(kind_ + ": verification failed: the source has " + std::to_string(n_src) + " items (sha256 " + h_src + "), the target " +
                           std::to_string(n_dst) + " (sha256 " + h_dst + "); the target adapter does not store these items faithfully");
    rep_.items = n_src;
    rep_.bytes = b_src;
    rep_.sha256 = h_src;
  }

  void blobs(const BlobHandle& src, const BlobHandle& dst) {
    uint64_t total = 0, total_bytes = 0;
    {
      BlobIds ids(src, tn_);
      while (auto id = ids.next()) step("scan", ++total, 0, total_bytes += src.size(tn_, *id), 0);
      report("scan", total, total, total_bytes, total_bytes, true);
    }
    BlobIds S(src, tn_), T(dst, tn_);
    uint64_t walked = 0;
    bytes_ = 0;
    auto a = S.next();
    auto b = T.next();
    while (a || b) {
      if (b && (!a || *b < *a)) {
        remove_blob(dst, *b);
        ++rep_.deleted;
        b = T.next();
        continue;
      }
      const uint64_t size = src.size(tn_, *a);
      const bool both = b && *a == *b;
      // Commits are atomic, so a blob present in the target is whole; a size
      // difference means it is not the same blob (a foreign id scheme).
      if (!both || dst.size(tn_, *a) != size) {
        if (both) remove_blob(dst, *a);
        copy_blob(src, dst, *a, size, total, total_bytes, walked);
        ++rep_.written;
      } else {
        bytes_ += size;
      }
      if (both) b = T.next();
      a = S.next();
      ++walked;
      if (walked % opts_.batch == 0 || bytes_ - last_bytes_ >= kReportBytes) report("copy", walked, total, bytes_, total_bytes, false);
    }
    report("copy", walked, total, bytes_, total_bytes, true);

    // Verify: the same ids on both sides, and every target blob's bytes hash
    // to its address (other id schemes: to the source blob's hash).
    Sha256 list_src, list_dst;
    uint64_t n_src = 0, n_dst = 0, verified = 0, checked_bytes = 0;
    for (BlobIds s(src, tn_); auto id = s.next(); ++n_src) list_src.update(*id + "\n");
    for (BlobIds t(dst, tn_); auto id = t.next(); ++n_dst) {
      list_dst.update(*id + "\n");
      uint64_t size = 0;
      std::string got = content_hash(dst, *id, size);
      const bool b1 = id->rfind("b1~", 0) == 0;
      uint64_t ignored = 0;
      std::string want = b1 ? *id : content_hash(src, *id, ignored);
      if ((b1 ? blob_address(got) : got) != want) {
        // Not what the source has: copy it again once, then it must match.
        remove_blob(dst, *id);
        copy_blob(src, dst, *id, src.size(tn_, *id), total, total_bytes, verified);
        ++rep_.written;
        got = content_hash(dst, *id, size);
        if ((b1 ? blob_address(got) : got) != want)
          throw MigrationError("blob: verification failed: " + *id + " read back from the target does not hash to its content address");
      }
      checked_bytes += size;
      report("verify", ++verified, total, checked_bytes, total_bytes, false);
    }
    const std::string h_src = list_src.hex(), h_dst = list_dst.hex();
    if (n_src != n_dst || h_src != h_dst || checked_bytes != total_bytes)
      throw MigrationError("blob: verification failed: the source has " + std::to_string(n_src) + " blobs, the target " + std::to_string(n_dst) + " (" +
                           std::to_string(checked_bytes) + " of " + std::to_string(total_bytes) + " bytes); rerun the migration");
    report("verify", verified, total, checked_bytes, total_bytes, true);
    rep_.items = n_src;
    rep_.bytes = total_bytes;
    rep_.sha256 = h_src;
  }

  void crdt(const CrdtHandle& src, const CrdtHandle& dst) {
    const auto docs = crdt_docs(src, tn_);
    const uint64_t total = docs.size();
    report("scan", total, total, 0, 0, true);
    const auto theirs = crdt_docs(dst, tn_);
    for (const auto& d : theirs)
      if (!std::binary_search(docs.begin(), docs.end(), d)) {
        dst.remove(tn_, d);
        ++rep_.deleted;
      }
    uint64_t walked = 0;
    bytes_ = 0;
    for (const auto& doc : docs) {
      sync_doc(src, dst, doc);
      if (++walked % opts_.batch == 0) report("copy", walked, total, bytes_, 0, false);
    }
    report("copy", walked, total, bytes_, 0, true);

    uint64_t n_src = 0, n_dst = 0, u_src = 0, u_dst = 0, b_src = 0, b_dst = 0;
    std::string h_src = digest_crdt(src, docs, n_src, u_src, b_src, 0, total);
    std::string h_dst = digest_crdt(dst, crdt_docs(dst, tn_), n_dst, u_dst, b_dst, n_src, total);
    report("verify", n_src + n_dst, 2 * total, b_src + b_dst, 0, true);
    if (n_src != n_dst || u_src != u_dst || h_src != h_dst)
      throw MigrationError("crdt: verification failed: the source has " + std::to_string(n_src) + " documents with " + std::to_string(u_src) +
                           " updates, the target " + std::to_string(n_dst) + " with " + std::to_string(u_dst) + "; rerun the migration");
    rep_.items = n_src;
    rep_.bytes = b_src;
    rep_.sha256 = h_src;
  }

 private:
  void report(const char* phase, uint64_t items, uint64_t items_total, uint64_t bytes, uint64_t bytes_total, bool done) {
    last_bytes_ = bytes;
    if (opts_.progress) opts_.progress({kind_, phase, items, items_total, bytes, bytes_total, done});
  }
  // A report every `batch` items.
  void step(const char* phase, uint64_t items, uint64_t items_total, uint64_t bytes, uint64_t bytes_total) {
    if (items % opts_.batch == 0) report(phase, items, items_total, bytes, bytes_total, false);
  }

  // `base_*`: what the other side's pass already counted (progress only).
  std::string digest_items(const AdapterHandle& h, uint64_t& n, uint64_t& bytes, uint64_t base_n, uint64_t base_bytes, uint64_t total, uint64_t total_bytes) {
    Sha256 sha;
    ItemStream s(h, tn_);
    while (auto it = s.next()) {
      sha.update(it->canonical());
      sha.update("\n");
      bytes += it->line.size();
      step("verify", base_n + ++n, 2 * total, base_bytes + bytes, 2 * total_bytes);
    }
    return sha.hex();
  }

  void remove_blob(const BlobHandle& dst, const std::string& id) {
    try {
      dst.remove(tn_, id);
    } catch (const PluginError& e) {
      if (e.code() != CM_NOT_FOUND) throw;
    }
  }

  // Streams one blob in ranges; the hash is checked before the commit, so a
  // corrupt source blob is never committed under its address.
  void copy_blob(const BlobHandle& src, const BlobHandle& dst, const std::string& id, uint64_t size, uint64_t total, uint64_t total_bytes, uint64_t walked) {
    Sha256 sha;
    uint64_t off = 0;
    std::string buf;
    dst.write(tn_, id, [&]() -> std::string_view {
      if (off >= size) {
        const std::string digest = sha.raw();
        if (id.rfind("b1~", 0) == 0 && blob_address(digest) != id)
          throw MigrationError("blob: " + id + " on the source is corrupt: its bytes hash to " + blob_address(digest) + "; it was not copied");
        return {};
      }
      buf.clear();
      src.read(tn_, id, off, std::min(kBlobChunk, size - off), [&](std::string_view c) {
        buf.append(c);
        return true;
      });
      if (buf.empty()) throw MigrationError("blob: " + id + " on the source is shorter than its size");
      sha.update(buf);
      off += buf.size();
      bytes_ += buf.size();
      if (bytes_ - last_bytes_ >= kReportBytes) report("copy", walked, total, bytes_, total_bytes, false);
      return buf;
    });
  }

  std::string content_hash(const BlobHandle& h, const std::string& id, uint64_t& size) {
    Sha256 sha;
    size = 0;
    h.read(tn_, id, 0, UINT64_MAX, [&](std::string_view c) {
      sha.update(c);
      size += c.size();
      return true;
    });
    return sha.raw();
  }

  // Makes the target's log of `doc` equal to the source's: appends what it
  // lacks when it holds a prefix (an interrupted copy), rewrites it otherwise.
  void sync_doc(const CrdtHandle& src, const CrdtHandle& dst, const std::string& doc) {
    std::vector<std::string> have;  // digests of the target's updates
    dst.read(tn_, doc, 0, [&](uint64_t, std::string_view u) {
      Sha256 s;
      s.update(u);
      have.push_back(s.raw());
    });
    size_t i = 0;
    bool diverged = false;
    src.read(tn_, doc, 0, [&](uint64_t, std::string_view u) {
      bytes_ += u.size();
      if (diverged) return;
      if (i < have.size()) {
        Sha256 s;
        s.update(u);
        diverged = s.raw() != have[i];
      } else {
        dst.append(tn_, doc, u);
        ++rep_.written;
      }
      ++i;
    });
    if (!diverged && i >= have.size()) return;
    // A different history (or a longer one): start the document over.
    dst.remove(tn_, doc);
    ++rep_.deleted;
    src.read(tn_, doc, 0, [&](uint64_t, std::string_view u) {
      dst.append(tn_, doc, u);
      ++rep_.written;
    });
  }

  // SHA-256 over "<doc>\n<hex of its update sequence>\n" for every document.
  std::string digest_crdt(const CrdtHandle& h, const std::vector<std::string>& docs, uint64_t& n, uint64_t& updates, uint64_t& bytes, uint64_t base_n,
                          uint64_t total) {
    Sha256 all;
    for (const auto& doc : docs) {
      Sha256 one;
      h.read(tn_, doc, 0, [&](uint64_t, std::string_view u) {
        std::string len(8, '\0');
        for (int b = 0; b < 8; ++b) len[b] = static_cast<char>((u.size() >> (56 - 8 * b)) & 0xff);
        one.update(len);  // length-prefixed: update boundaries count
        one.update(u);
        bytes += u.size();
        ++updates;
      });
      all.update(doc + "\n" + one.hex() + "\n");
      if (++n % opts_.batch == 0) report("verify", base_n + n, 2 * total, bytes, 0, false);
    }
    return all.hex();
  }

  std::string kind_;
  const TenantRef& tn_;
  const MigrationOptions& opts_;
  KindReport& rep_;
  uint64_t bytes_ = 0, last_bytes_ = 0;
};

uint32_t kind_bit(const std::string& kind) { return plugins::kind_from_name(kind); }

// The same factory with the same options (compared as JSON): one adapter.
bool same_adapter(const AdapterSpec& a, const AdapterSpec& b) {
  if (a.factory != b.factory) return false;
  json ja = json::parse(a.options_json, nullptr, false), jb = json::parse(b.options_json, nullptr, false);
  return ja.is_discarded() || jb.is_discarded() ? a.options_json == b.options_json : ja == jb;
}

}  // namespace

Migrator::Migrator(const Config& cfg, plugins::PluginManager& pm, TenantRegistry& registry, MigrationOptions opts)
    : cfg_(cfg), pm_(pm), registry_(registry), opts_(std::move(opts)) {
  if (opts_.batch == 0) opts_.batch = 1;
}

std::vector<KindReport> Migrator::run(const std::string& id_tag, const std::string& to) {
  registry_.reload();
  const auto rec = registry_.get(id_tag);
  if (!rec) throw MigrationError("no tenant " + id_tag + " (see `cumulo tenant list`)");
  if (!cfg_.profiles.count(to)) {
    std::string names;
    for (const auto& [n, _] : cfg_.profiles) names += (names.empty() ? "" : ", ") + n;
    throw MigrationError("unknown profile '" + to + "' (configured: " + names + ")");
  }
  if (rec->profile == to) throw MigrationError("tenant " + id_tag + " is already on profile '" + to + "'");
  auto from_it = cfg_.profiles.find(rec->profile);
  if (from_it == cfg_.profiles.end())
    throw MigrationError("tenant " + id_tag + " is bound to profile '" + rec->profile + "', which is not configured: its data cannot be read");
  const Profile& from = from_it->second;
  const Profile& dest = cfg_.profiles.at(to);
  const TenantRef tn{rec->tn_id, rec->id_tag};

  // Plan every kind and open every adapter before writing anything, so a
  // refusal leaves both sides untouched.
  struct Plan {
    std::string kind;
    std::shared_ptr<plugins::Instance> src, dst;
    bool shared = false;
  };
  std::vector<Plan> plans;
  auto open = [&](const std::string& kind, const Profile& p) {
    const AdapterSpec& spec = p.adapters.at(kind);
    try {
      return pm_.create(kind_bit(kind), spec.factory, spec.options_json);
    } catch (const PluginError& e) {
      throw MigrationError("profile '" + p.name + "': cannot open its " + kind + " adapter " + spec.factory + ": " + e.what());
    }
  };
  for (const char* kind : kKinds) {
    if (!from.adapters.count(kind)) continue;
    if (!dest.adapters.count(kind))
      throw MigrationError("profile '" + to + "' has no " + kind + " adapter: the tenant's " + kind + " data (profile '" + from.name + "', " +
                           from.adapters.at(kind).factory + ") would be left behind");
    Plan plan{kind, nullptr, nullptr, same_adapter(from.adapters.at(kind), dest.adapters.at(kind))};
    if (!plan.shared) {
      plan.src = open(kind, from);
      plan.dst = open(kind, dest);
      const AdapterHandle s(plan.src), d(plan.dst);
      const std::string k = kind;
      try {
        if (k == "blob") {
          for (const auto* h : {&s, &d})
            if (!h->instance().factory().vt.blob.list)
              throw PluginError(CM_UNSUPPORTED, h->describe() + " cannot list a tenant's blobs (no list slot), so they cannot be migrated");
        } else if (k == "crdt") {
          for (const auto* h : {&s, &d})
            if (!h->instance().factory().vt.crdt.list || !h->instance().factory().vt.crdt.remove)
              throw PluginError(CM_UNSUPPORTED, h->describe() + " cannot list or remove a tenant's documents, so they cannot be migrated");
        } else {
          s.require_dump();
          d.require_dump();
        }
      } catch (const PluginError& e) {
        throw MigrationError(e.what());
      }
    }
    plans.push_back(std::move(plan));
  }

  std::vector<KindReport> reports;
  for (const auto& plan : plans) {
    KindReport rep;
    rep.kind = plan.kind;
    rep.shared = plan.shared;
    if (plan.shared) {
      rep.source = rep.target = from.adapters.at(plan.kind).factory + " (shared: nothing to move)";
      reports.push_back(std::move(rep));
      continue;
    }
    rep.source = AdapterHandle(plan.src).describe();
    rep.target = AdapterHandle(plan.dst).describe();
    const auto t0 = std::chrono::steady_clock::now();
    KindMove move(plan.kind, tn, opts_, rep);
    try {
      if (plan.kind == "blob")
        move.blobs(BlobHandle(plan.src), BlobHandle(plan.dst));
      else if (plan.kind == "crdt")
        move.crdt(CrdtHandle(plan.src), CrdtHandle(plan.dst));
      else
        move.items(AdapterHandle(plan.src), AdapterHandle(plan.dst));
    } catch (const PluginError& e) {
      throw MigrationError(plan.kind + ": " + e.what() + " (tenant " + id_tag + " stays on profile '" + from.name + "'; fix the cause and rerun)");
    }
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    reports.push_back(std::move(rep));
  }

  // Close every adapter first: closing makes what they wrote durable (SQLite
  // checkpoints its WAL), so the switch never points at data a power loss
  // could still take back. Then the switch: one atomic rename of tenants.json.
  plans.clear();
  registry_.set_profile(id_tag, to);
  return reports;
}

void ProgressPrinter::operator()(const MigrationProgress& p) {
  const double mib = static_cast<double>(p.bytes) / (1 << 20), mib_total = static_cast<double>(p.bytes_total) / (1 << 20);
  const std::string total = p.items_total ? "/" + std::to_string(p.items_total) : std::string();
  if (!tty_) {
    if (p.bytes_total)
      std::fprintf(out_, "migrate %s: %s %s %llu%s items, %.1f/%.1f MiB%s\n", id_tag_.c_str(), p.kind.c_str(), p.phase.c_str(),
                   static_cast<unsigned long long>(p.items), total.c_str(), mib, mib_total, p.done ? ", done" : "");
    else
      std::fprintf(out_, "migrate %s: %s %s %llu%s items, %.1f MiB%s\n", id_tag_.c_str(), p.kind.c_str(), p.phase.c_str(),
                   static_cast<unsigned long long>(p.items), total.c_str(), mib, p.done ? ", done" : "");
    std::fflush(out_);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!p.done && now - last_ < std::chrono::milliseconds(100)) return;  // redraw at most 10 times a second
  last_ = now;
  double frac = p.bytes_total   ? static_cast<double>(p.bytes) / static_cast<double>(p.bytes_total)
                : p.items_total ? static_cast<double>(p.items) / static_cast<double>(p.items_total)
                                : 0;
  if (p.done) frac = 1;
  frac = std::clamp(frac, 0.0, 1.0);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '-');
  std::fprintf(out_, "\r\033[K%-4s %-6s [%s] %3d%%  %llu%s items  %.1f MiB", p.kind.c_str(), p.phase.c_str(), bar.c_str(), static_cast<int>(frac * 100),
               static_cast<unsigned long long>(p.items), total.c_str(), mib);
  if (p.done) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace cumulo::app
