// meta adapters through the SDK vs raw statements doing the same work, in the
// same run, on the same schema and indexes:
//   SQLite      meta-sqlite    vs raw sqlite3 (statements prepared once)
//   PostgreSQL  meta-postgres  vs raw libpq (PQprepare once, PQexecPrepared:
//               pgbench -M prepared style) — when CUMULO_TEST_PG is set and
//               the postgres plugin was built
// Cases:
//   insert  one action (+ its token) per transaction, from the JSON text of
//           the action (both sides parse it; the raw side does not read the
//           stored row back, which put_action's contract makes the adapter do)
//   feed    the 20 newest actions of a tenant with visibility in (P, F), as
//           the JSON page list_actions returns: the raw side runs the same
//           SQL text (same plan, printed below) and writes the same bytes
//           with plain string appends; both pages are compared byte for byte
//           before timing
// The adapter is called through its C vtable, exactly as the host does.
// Usage: bench_meta [seconds-per-case] [sqlite|pg|all]
#include <sqlite3.h>
#ifdef CUMULO_BENCH_PG
#include <libpq-fe.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "plugins/adapters.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cumulo::plugins;

namespace {

const TenantRef kTn{1, "bench.test"};
const TenantRef kOther{2, "other.test"};
constexpr int kPrefill = 20000;  // per tenant
const char* const kVis[] = {"P", "F", "D", "C"};
const std::string kFilter = R"({"visibility":["P","F"],"limit":20})";

// The list_actions query for kFilter, exactly as the adapters build it.
constexpr const char* kFeedSql =
    "SELECT action_id, type, sub_type, key, parent_id, root_id, issuer_tag, audience, subject, content, attachments, visibility, flags, status, "
    "created_at, expires_at, x, extra, stat_comments, stat_reactions FROM actions WHERE tn_id = ? AND visibility IN (?,?) "
    "ORDER BY created_at DESC, action_id DESC LIMIT ?";
constexpr const char* kInsertSql =
    "INSERT INTO actions(tn_id, action_id, type, issuer_tag, audience, content, attachments, visibility, status, created_at) "
    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kTokenSql = "INSERT INTO action_tokens(tn_id, action_id, token) VALUES(?, ?, ?)";

// Runs `a` and `b` in alternating short rounds (so background load hits
// both alike) for `seconds` each in total; returns their op/s.
std::pair<double, double> race(double seconds, const std::function<void(int64_t)>& a, const std::function<void(int64_t)>& b) {
  using clock = std::chrono::steady_clock;
  const int rounds = 20;
  int64_t n[2] = {0, 0};
  double spent[2] = {0, 0};
  for (int r = 0; r < rounds; ++r)
    for (int side = 0; side < 2; ++side) {
      const auto& op = side ? b : a;
      auto start = clock::now();
      auto until = start + std::chrono::duration<double>(seconds / rounds);
      while (clock::now() < until)
        for (int i = 0; i < 10; ++i) op(n[side]++);
      spent[side] += std::chrono::duration<double>(clock::now() - start).count();
    }
  return {static_cast<double>(n[0]) / spent[0], static_cast<double>(n[1]) / spent[1]};
}

// The action put by both sides, as JSON text.
std::string action(const std::string& id, int64_t t) {
  return json{{"actionId", id},
              {"type", "POST"},
              {"issuerTag", "alice.example.com"},
              {"audience", "bench.test"},
              {"createdAt", t},
              {"visibility", kVis[t % 4]},
              {"content", {{"text", "A post of moderate length, as a feed would show it: " + id}}},
              {"attachments", {"b1~abcdefghijklmnopqrstuvwxyz0123456789"}},
              {"token", "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"}}
      .dump();
}

// What a raw implementation extracts from the action text before binding.
struct ParsedAction {
  std::string id, type, issuer, audience, content, attachments, visibility, token;
  int64_t created_at = 0;
  explicit ParsedAction(const std::string& text) {
    json a = json::parse(text);
    id = a.at("actionId");
    type = a.at("type");
    issuer = a.at("issuerTag");
    audience = a.at("audience");
    content = a.at("content").dump();
    attachments = a.at("attachments").dump();
    visibility = a.value("visibility", "D");
    token = a.at("token");
    created_at = a.at("createdAt");
  }
};

// ---- the feed page, written by hand ------------------------------------------------

// A JSON string literal: unescaped stretches are copied in one append. Kept
// independent of sql-common on purpose: the raw side uses none of our code.
void put_str(std::string& out, const char* p, size_t n) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  size_t run = 0;
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(p + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00", out += hex[c >> 4], out += hex[c & 15];
    }
  }
  out.append(p + run, n - run);
  out += '"';
}

// Columns of kFeedSql: key, and whether the value is a string (else a
// number or stored JSON, written as is). extra (17) and the stats (18, 19)
// follow.
struct Col {
  const char* key;
  bool str;
};
constexpr Col kCols[17] = {{"\"actionId\":", true},     {"\"type\":", true},       {"\"subType\":", true},  {"\"key\":", true},     {"\"parentId\":", true},
                           {"\"rootId\":", true},       {"\"issuerTag\":", true},  {"\"audience\":", true}, {"\"subject\":", true}, {"\"content\":", false},
                           {"\"attachments\":", false}, {"\"visibility\":", true}, {"\"flags\":", true},    {"\"status\":", true},  {"\"createdAt\":", false},
                           {"\"expiresAt\":", false},   {"\"x\":", false}};

// Appends one action object from a row read through `get(col)` → (ptr, len),
// ptr null for NULL.
template <class Get>
void put_action(std::string& out, Get&& get) {
  out += '{';
  bool first = true;
  for (int c = 0; c < 17; ++c) {
    auto [p, n] = get(c);
    if (!p) continue;
    if (!first) out += ',';
    first = false;
    out += kCols[c].key;
    if (kCols[c].str)
      put_str(out, p, n);
    else
      out.append(p, n);
  }
  if (auto [p, n] = get(17); p && n > 2) {  // extra: unknown keys, spliced
    if (!first) out += ',';
    first = false;
    out.append(p + 1, n - 2);
  }
  if (!first) out += ',';
  out += "\"stats\":{\"comments\":";
  auto [cp, cn] = get(18);
  out.append(cp, cn);
  out += ",\"reactions\":";
  auto [rp, rn] = get(19);
  out.append(rp, rn);
  out += "}}";
}

// ---- adapters through the SDK ------------------------------------------------------

struct Adapter {
  PluginManager pm;
  std::shared_ptr<Instance> inst;
  const cm_meta_actions* vt = nullptr;
  Adapter(const fs::path& shadow, const char* plugin, const char* factory, const json& opts) : pm({}, shadow) {
    pm.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / (std::string(plugin) + ".so"));
    inst = pm.create(CM_KIND_META, factory, opts.dump());
    vt = inst->factory().vt.meta.actions;
  }
  void put(const TenantRef& tn, const std::string& text) const {
    StringSink s;
    cm_error err = new_error();
    auto c = tn.c();
    check(vt->put_action(inst->self(), &c, to_cm(text), &s.sink, &err), err, "put_action");
  }
  std::string feed() const {
    StringSink s;
    cm_error err = new_error();
    auto c = kTn.c();
    check(vt->list_actions(inst->self(), &c, to_cm(kFilter), &s.sink, &err), err, "list_actions");
    return std::move(s.data);
  }
};

void report(const char* title, double ad_ins, double raw_ins, double ad_feed, double raw_feed, size_t bytes) {
  std::printf("%s (%d prefilled actions per tenant)\n", title, kPrefill);
  std::printf("%-36s %12s %12s %7s\n", "case", "adapter op/s", "raw op/s", "ratio");
  std::printf("%-36s %12.0f %12.0f %7.2f\n", "insert action (+token), 1 tx each", ad_ins, raw_ins, ad_ins / raw_ins);
  std::printf("%-36s %12.0f %12.0f %7.2f\n", "20 newest, visibility in (P,F)", ad_feed, raw_feed, ad_feed / raw_feed);
  std::printf("(feed page: %zu bytes of JSON, identical on both sides)\n\n", bytes);
  std::fflush(stdout);
}

void same_page(const std::string& ad, const std::string& raw) {
  if (ad == raw) return;
  std::fprintf(stderr, "feed pages differ:\nadapter: %s\nraw:     %s\n", ad.c_str(), raw.c_str());
  std::exit(1);
}

// ---- SQLite ------------------------------------------------------------------------

struct RawSqlite {
  sqlite3* db = nullptr;
  sqlite3_stmt *begin = nullptr, *commit = nullptr, *ins = nullptr, *tok = nullptr, *feed = nullptr;
  explicit RawSqlite(const fs::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) throw std::runtime_error("open");
    // The adapter's settings: WAL, synchronous=NORMAL, foreign keys.
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
    sqlite3_busy_timeout(db, 5000);
    prep(begin, "BEGIN IMMEDIATE");
    prep(commit, "COMMIT");
    prep(ins, kInsertSql);
    prep(tok, kTokenSql);
    prep(feed, kFeedSql);
  }
  ~RawSqlite() {
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
  void text(sqlite3_stmt* st, int i, const std::string& s) { sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC); }
  void put(int64_t tn, const std::string& action_text, bool tx = true) {
    ParsedAction a(action_text);
    if (tx) step_done(begin);
    sqlite3_bind_int64(ins, 1, tn);
    text(ins, 2, a.id);
    text(ins, 3, a.type);
    text(ins, 4, a.issuer);
    text(ins, 5, a.audience);
    text(ins, 6, a.content);
    text(ins, 7, a.attachments);
    text(ins, 8, a.visibility);
    sqlite3_bind_text(ins, 9, "A", 1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 10, a.created_at);
    step_done(ins);
    sqlite3_bind_int64(tok, 1, tn);
    text(tok, 2, a.id);
    text(tok, 3, a.token);
    step_done(tok);
    if (tx) step_done(commit);
  }
  std::string list() {
    const int limit = 20;
    sqlite3_bind_int64(feed, 1, kTn.tn_id);
    sqlite3_bind_text(feed, 2, "P", 1, SQLITE_STATIC);
    sqlite3_bind_text(feed, 3, "F", 1, SQLITE_STATIC);
    sqlite3_bind_int64(feed, 4, limit + 1);
    std::string out = "{\"actions\":[";
    std::string cursor;
    int n = 0;
    bool more = false;
    auto get = [&](int c) -> std::pair<const char*, size_t> {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(feed, c));
      return {p, p ? static_cast<size_t>(sqlite3_column_bytes(feed, c)) : 0};
    };
    int rc;
    while ((rc = sqlite3_step(feed)) == SQLITE_ROW) {
      if (n == limit) {  // one more than the page: the cursor is the page's last row
        more = true;
        break;
      }
      if (n++) out += ',';
      put_action(out, get);
      if (n == limit) cursor = std::to_string(sqlite3_column_int64(feed, 14)) + ":" + reinterpret_cast<const char*>(sqlite3_column_text(feed, 0));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
    sqlite3_reset(feed);
    out += "],\"cursor\":";
    if (more)
      put_str(out, cursor.data(), cursor.size());
    else
      out += "null";
    out += '}';
    return out;
  }
  void print_plan() {
    sqlite3_stmt* st = nullptr;
    prep(st, (std::string("EXPLAIN QUERY PLAN ") + kFeedSql).c_str());
    while (sqlite3_step(st) == SQLITE_ROW) std::printf("  plan: %s\n", sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
  }
};

void bench_sqlite(double secs) {
  fs::path root = fs::temp_directory_path() / ("cumulo-meta-bench-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const fs::path adb = root / "adapter.db", rdb = root / "raw.db";
  // Both files get the schema from the adapter; the data is loaded once on
  // the raw side and the file copied, so both sides start from identical
  // B-trees.
  { Adapter(root / "shadow0", "sqlite", "meta-sqlite", json{{"path", rdb.string()}}); }
  {
    RawSqlite raw(rdb);
    sqlite3_exec(raw.db, "BEGIN", nullptr, nullptr, nullptr);
    for (int i = 0; i < kPrefill; ++i) raw.put(kTn.tn_id, action("p" + std::to_string(i), i), false);
    sqlite3_exec(raw.db,
                 "INSERT INTO actions(tn_id, action_id, type, issuer_tag, audience, content, attachments, visibility, status, created_at) "
                 "SELECT 2, action_id, type, issuer_tag, audience, content, attachments, visibility, status, created_at FROM actions WHERE tn_id = 1; "
                 "INSERT INTO action_tokens SELECT 2, action_id, token FROM action_tokens WHERE tn_id = 1; COMMIT; ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)",
                 nullptr, nullptr, nullptr);
  }
  fs::copy_file(rdb, adb);

  Adapter ad(root / "shadow", "sqlite", "meta-sqlite", json{{"path", adb.string()}});
  RawSqlite raw(rdb);
  raw.print_plan();
  std::string page = ad.feed();
  same_page(page, raw.list());

  auto [ad_feed, raw_feed] = race(
      secs, [&](int64_t) { ad.feed(); }, [&](int64_t) { raw.list(); });
  int64_t t0 = kPrefill;
  auto [ad_ins, raw_ins] = race(
      secs, [&](int64_t n) { ad.put(kTn, action("a" + std::to_string(n), t0 + n)); },
      [&](int64_t n) { raw.put(kTn.tn_id, action("a" + std::to_string(n), t0 + n)); });
  report("meta-sqlite vs raw sqlite3", ad_ins, raw_ins, ad_feed, raw_feed, page.size());
  fs::remove_all(root);
}

// ---- PostgreSQL --------------------------------------------------------------------

#ifdef CUMULO_BENCH_PG
struct RawPg {
  PGconn* c = nullptr;
  RawPg(const std::string& conninfo, const std::string& schema, bool statements = true) {
    c = PQconnectdb(conninfo.c_str());
    if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c));
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    simple(("SET search_path TO " + schema).c_str());
    if (!statements) return;
    prep("ins", kInsertSql, 10);
    prep("tok", kTokenSql, 3);
    prep("feed", kFeedSql, 4);
  }
  ~RawPg() { PQfinish(c); }
  void ok(PGresult* r, const char* what) {
    auto s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
      std::string msg = std::string(what) + ": " + PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error(msg);
    }
  }
  void simple(const char* sql) {
    PGresult* r = PQexec(c, sql);
    ok(r, sql);
    PQclear(r);
  }
  // "?" → "$n" (no "?" inside literals in these texts).
  void prep(const char* name, const char* sql, int n) {
    std::string s;
    int i = 0;
    for (const char* p = sql; *p; ++p) *p == '?' ? (s += '$' + std::to_string(++i)) : (s += *p);
    if (i != n) throw std::runtime_error("placeholder count");
    PGresult* r = PQprepare(c, name, s.c_str(), 0, nullptr);
    ok(r, name);
    PQclear(r);
  }
  PGresult* run(const char* name, int n, const char* const* vals) {
    PGresult* r = PQexecPrepared(c, name, n, vals, nullptr, nullptr, 0);
    ok(r, name);
    return r;
  }
  void put(int64_t tn, const std::string& action_text) {
    ParsedAction a(action_text);
    std::string tns = std::to_string(tn), created = std::to_string(a.created_at);
    const char* iv[] = {tns.c_str(),          a.id.c_str(), a.type.c_str(), a.issuer.c_str(), a.audience.c_str(), a.content.c_str(), a.attachments.c_str(),
                        a.visibility.c_str(), "A",          created.c_str()};
    const char* tv[] = {tns.c_str(), a.id.c_str(), a.token.c_str()};
    simple("BEGIN");
    PQclear(run("ins", 10, iv));
    PQclear(run("tok", 3, tv));
    simple("COMMIT");
  }
  std::string list() {
    const int limit = 20;
    std::string tns = std::to_string(kTn.tn_id), lim = std::to_string(limit + 1);
    const char* v[] = {tns.c_str(), "P", "F", lim.c_str()};
    PGresult* r = run("feed", 4, v);
    int rows = PQntuples(r);
    std::string out = "{\"actions\":[";
    for (int i = 0; i < std::min(rows, limit); ++i) {
      if (i) out += ',';
      put_action(out, [&](int col) -> std::pair<const char*, size_t> {
        if (PQgetisnull(r, i, col)) return {nullptr, 0};
        return {PQgetvalue(r, i, col), static_cast<size_t>(PQgetlength(r, i, col))};
      });
    }
    out += "],\"cursor\":";
    if (rows > limit) {
      std::string cursor = std::string(PQgetvalue(r, limit - 1, 14)) + ":" + PQgetvalue(r, limit - 1, 0);
      put_str(out, cursor.data(), cursor.size());
    } else {
      out += "null";
    }
    out += '}';
    PQclear(r);
    return out;
  }
  void print_plan() {
    simple("SET plan_cache_mode = force_generic_plan");
    PGresult* r = PQexec(c, "EXPLAIN EXECUTE feed(1, 'P', 'F', 21)");
    ok(r, "explain");
    for (int i = 0; i < PQntuples(r); ++i) std::printf("  plan: %s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    simple("RESET plan_cache_mode");
  }
};

void bench_pg(double secs, const std::string& conninfo) {
  fs::path root = fs::temp_directory_path() / ("cumulo-meta-bench-pg-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string as = "bench_meta_adapter", rs = "bench_meta_raw";
  {
    RawPg admin(conninfo, "public", false);
    admin.simple(("DROP SCHEMA IF EXISTS " + as + " CASCADE; DROP SCHEMA IF EXISTS " + rs + " CASCADE").c_str());
  }
  // Both schemas from the adapter's migrations; data loaded on the raw side
  // and copied, so both sides start from the same rows.
  { Adapter(root / "shadow0", "postgres", "meta-postgres", json{{"conninfo", conninfo}, {"schema", rs}}); }
  Adapter ad(root / "shadow", "postgres", "meta-postgres", json{{"conninfo", conninfo}, {"schema", as}});
  RawPg raw(conninfo, rs);
  {
    raw.simple("BEGIN");
    for (int i = 0; i < kPrefill; ++i) {
      ParsedAction a(action("p" + std::to_string(i), i));
      std::string created = std::to_string(a.created_at);
      const char* iv[] = {
          "1", a.id.c_str(),   a.type.c_str(), a.issuer.c_str(), a.audience.c_str(), a.content.c_str(), a.attachments.c_str(), a.visibility.c_str(),
          "A", created.c_str()};
      const char* tv[] = {"1", a.id.c_str(), a.token.c_str()};
      PQclear(raw.run("ins", 10, iv));
      PQclear(raw.run("tok", 3, tv));
    }
    const std::string cols = "action_id, type, issuer_tag, audience, content, attachments, visibility, status, created_at";
    raw.simple(("INSERT INTO actions(tn_id, " + cols + ") SELECT 2, " + cols + " FROM actions WHERE tn_id = 1; " +
                "INSERT INTO action_tokens SELECT 2, action_id, token FROM action_tokens WHERE tn_id = 1; " + "INSERT INTO " + as + ".actions(tn_id, " + cols +
                ") SELECT tn_id, " + cols + " FROM actions ORDER BY a_id; " + "INSERT INTO " + as + ".action_tokens SELECT * FROM action_tokens; COMMIT")
                   .c_str());
    for (const std::string& t : {rs + ".actions", rs + ".action_tokens", as + ".actions", as + ".action_tokens"}) raw.simple(("VACUUM ANALYZE " + t).c_str());
  }
  raw.print_plan();
  std::string page = ad.feed();
  same_page(page, raw.list());

  auto [ad_feed, raw_feed] = race(
      secs, [&](int64_t) { ad.feed(); }, [&](int64_t) { raw.list(); });
  int64_t t0 = kPrefill;
  auto [ad_ins, raw_ins] = race(
      secs, [&](int64_t n) { ad.put(kTn, action("a" + std::to_string(n), t0 + n)); },
      [&](int64_t n) { raw.put(kTn.tn_id, action("a" + std::to_string(n), t0 + n)); });
  report("meta-postgres vs raw libpq (prepared)", ad_ins, raw_ins, ad_feed, raw_feed, page.size());
  raw.simple(("DROP SCHEMA " + as + " CASCADE; DROP SCHEMA " + rs + " CASCADE").c_str());
  fs::remove_all(root);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  double secs = argc > 1 ? std::stod(argv[1]) : 3.0;
  std::string which = argc > 2 ? argv[2] : "all";
  if (which == "all" || which == "sqlite") bench_sqlite(secs);
  if (which == "all" || which == "pg") {
    const char* pg = std::getenv("CUMULO_TEST_PG");
#ifdef CUMULO_BENCH_PG
    if (!pg || !*pg)
      std::printf("PostgreSQL: skipped (CUMULO_TEST_PG not set)\n");
    else if (!fs::exists(fs::path(CUMULO_BUILD_DIR) / "plugins" / "postgres.so"))
      std::printf("PostgreSQL: skipped (postgres plugin not built)\n");
    else
      bench_pg(secs, pg);
#else
    (void)pg;
    std::printf("PostgreSQL: skipped (bench built without libpq)\n");
#endif
  }
  return 0;
}
