// meta-sqlite through the SDK vs raw sqlite3 statements doing the same work,
// same run, same schema and indexes (the raw side opens a file the adapter
// created, with the same pragmas, statements prepared once):
//   insert   one action (+ its token) per transaction
//   feed     the 20 newest actions of a tenant with visibility in (P, F)
// The adapter is called through its C vtable (MetaHandle does not wrap
// actions), exactly as the host would. Usage: bench_meta [seconds-per-case]
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "plugins/adapters.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cumulo::plugins;

namespace {

const TenantRef kTn{1, "bench.test"};
const TenantRef kOther{2, "other.test"};
constexpr int kPrefill = 20000;  // per tenant
const char* const kVis[] = {"P", "F", "D", "C"};

// Runs `a` and `b` in alternating short rounds (so background load hits
// both alike) for `seconds` each in total; returns their op/s.
std::pair<double, double> race(double seconds, const std::function<void(int64_t)>& a, const std::function<void(int64_t)>& b) {
  using clock = std::chrono::steady_clock;
  const int rounds = 10;
  int64_t n[2] = {0, 0};
  double spent[2] = {0, 0};
  for (int r = 0; r < rounds; ++r)
    for (int side = 0; side < 2; ++side) {
      const auto& op = side ? b : a;
      auto start = clock::now();
      auto until = start + std::chrono::duration<double>(seconds / rounds);
      while (clock::now() < until)
        for (int i = 0; i < 20; ++i) op(n[side]++);
      spent[side] += std::chrono::duration<double>(clock::now() - start).count();
    }
  return {static_cast<double>(n[0]) / spent[0], static_cast<double>(n[1]) / spent[1]};
}

json action(const std::string& id, int64_t t) {
  return {{"actionId", id},
          {"type", "POST"},
          {"issuerTag", "alice.example.com"},
          {"audience", "bench.test"},
          {"createdAt", t},
          {"visibility", kVis[t % 4]},
          {"content", {{"text", "A post of moderate length, as a feed would show it: " + id}}},
          {"attachments", {"b1~abcdefghijklmnopqrstuvwxyz0123456789"}},
          {"token", "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"}};
}

struct Adapter {
  PluginManager pm;
  std::shared_ptr<Instance> inst;
  const cm_meta_actions* vt = nullptr;
  Adapter(const fs::path& shadow, const fs::path& db) : pm({}, shadow) {
    pm.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "sqlite.so");
    inst = pm.create(CM_KIND_META, "meta-sqlite", json{{"path", db.string()}}.dump());
    vt = inst->factory().vt.meta.actions;
  }
  void put(const TenantRef& tn, const std::string& text) const {
    StringSink s;
    cm_error err = new_error();
    auto c = tn.c();
    check(vt->put_action(inst->self(), &c, to_cm(text), &s.sink, &err), err, "put_action");
  }
  size_t feed(const std::string& filter) const {
    StringSink s;
    cm_error err = new_error();
    auto c = kTn.c();
    check(vt->list_actions(inst->self(), &c, to_cm(filter), &s.sink, &err), err, "list_actions");
    return s.data.size();
  }
};

struct Raw {
  sqlite3* db = nullptr;
  sqlite3_stmt *begin = nullptr, *commit = nullptr, *ins = nullptr, *tok = nullptr, *feed = nullptr;
  explicit Raw(const fs::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) throw std::runtime_error("open");
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
    sqlite3_busy_timeout(db, 5000);
    prep(begin, "BEGIN IMMEDIATE");
    prep(commit, "COMMIT");
    prep(ins,
         "INSERT INTO actions(tn_id, action_id, type, issuer_tag, audience, content, attachments, visibility, status, created_at) "
         "VALUES(?, ?, 'POST', 'alice.example.com', 'bench.test', ?, ?, ?, 'A', ?)");
    prep(tok, "INSERT INTO action_tokens(tn_id, action_id, token) VALUES(?, ?, ?)");
    prep(feed,
         "SELECT action_id, type, sub_type, key, parent_id, root_id, issuer_tag, audience, subject, content, attachments, visibility, flags, "
         "status, created_at, expires_at, x, extra, stat_comments, stat_reactions FROM actions "
         "WHERE tn_id = ? AND visibility IN ('P', 'F') ORDER BY created_at DESC, action_id DESC LIMIT 21");
  }
  ~Raw() {
    for (auto* s : {begin, commit, ins, tok, feed}) sqlite3_finalize(s);
    sqlite3_close(db);
  }
  void prep(sqlite3_stmt*& st, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
  }
  void step_done(sqlite3_stmt* st) {
    if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
    sqlite3_reset(st);
  }
  // The same bytes the adapter stores: compact JSON text for content and
  // attachments, produced here once per call as the adapter must.
  void put(const json& a) {
    step_done(begin);
    std::string id = a["actionId"], content = a["content"].dump(), att = a["attachments"].dump(), vis = a["visibility"], token = a["token"];
    sqlite3_bind_int64(ins, 1, kTn.tn_id);
    sqlite3_bind_text(ins, 2, id.c_str(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, content.c_str(), static_cast<int>(content.size()), SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, att.c_str(), static_cast<int>(att.size()), SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, vis.c_str(), static_cast<int>(vis.size()), SQLITE_STATIC);
    sqlite3_bind_int64(ins, 6, a["createdAt"].get<int64_t>());
    step_done(ins);
    sqlite3_bind_int64(tok, 1, kTn.tn_id);
    sqlite3_bind_text(tok, 2, id.c_str(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_bind_text(tok, 3, token.c_str(), static_cast<int>(token.size()), SQLITE_STATIC);
    step_done(tok);
    step_done(commit);
  }
  // Reads every column of the page into one string (what a caller needs).
  size_t list() {
    std::string out;
    sqlite3_bind_int64(feed, 1, kTn.tn_id);
    while (sqlite3_step(feed) == SQLITE_ROW)
      for (int c = 0; c < 20; ++c) {
        const unsigned char* t = sqlite3_column_text(feed, c);
        if (t) out.append(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(feed, c)));
      }
    sqlite3_reset(feed);
    return out.size();
  }
};

}  // namespace

int main(int argc, char** argv) {
  double secs = argc > 1 ? std::stod(argv[1]) : 3.0;
  fs::path root = fs::temp_directory_path() / ("cumulo-meta-bench-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const fs::path adb = root / "adapter.db", rdb = root / "raw.db";

  Adapter ad(root / "shadow", adb);
  // The raw side gets the identical schema by letting the adapter create it.
  { Adapter(root / "shadow2", rdb); }
  Raw raw(rdb);

  // Same starting data on both sides: kPrefill actions per tenant.
  for (int i = 0; i < kPrefill; ++i) {
    ad.put(kTn, action("p" + std::to_string(i), i).dump());
    ad.put(kOther, action("p" + std::to_string(i), i).dump());
    raw.put(action("p" + std::to_string(i), i));
  }
  {  // raw also needs the other tenant's rows
    sqlite3_exec(raw.db, "INSERT INTO actions SELECT NULL, 2, action_id, type, sub_type, key, parent_id, root_id, issuer_tag, audience, subject, content, "
                         "attachments, visibility, flags, status, created_at, expires_at, x, extra, stat_comments, stat_reactions FROM actions WHERE tn_id = 1",
                 nullptr, nullptr, nullptr);
  }

  int64_t t0 = kPrefill;
  auto [ad_ins, raw_ins] = race(
      secs, [&](int64_t n) { ad.put(kTn, action("a" + std::to_string(n), t0 + n).dump()); }, [&](int64_t n) { raw.put(action("a" + std::to_string(n), t0 + n)); });
  const std::string filter = R"({"visibility":["P","F"],"limit":20})";
  size_t ad_bytes = ad.feed(filter), raw_bytes = raw.list();
  auto [ad_feed, raw_feed] = race(secs, [&](int64_t) { ad.feed(filter); }, [&](int64_t) { raw.list(); });

  std::printf("meta-sqlite vs raw sqlite3 (%d prefilled actions per tenant, %.1fs per case)\n", kPrefill, secs);
  std::printf("%-34s %12s %12s %7s\n", "case", "adapter op/s", "raw op/s", "ratio");
  std::printf("%-34s %12.0f %12.0f %7.2f\n", "insert action (+token), 1 tx each", ad_ins, raw_ins, ad_ins / raw_ins);
  std::printf("%-34s %12.0f %12.0f %7.2f\n", "20 newest, visibility in (P,F)", ad_feed, raw_feed, ad_feed / raw_feed);
  std::printf("(page sizes: adapter %zu bytes of JSON, raw %zu bytes of column text)\n", ad_bytes, raw_bytes);
  fs::remove_all(root);
  return 0;
}
