// meta-postgres / auth-postgres behaviour the generic suites cannot see: the
// pool (bounded: callers wait, then succeed or time out), a server restart in
// the middle of use (calls fail with CM_UNAVAILABLE, then recover), many
// writer threads without errors, schemas isolating instances, migrations
// applied once by hosts starting together, strict options, and bcrypt hashes
// that auth-sqlite and auth-postgres both accept.
// Needs CUMULO_TEST_PG (scripts/pg-test-server.sh); skipped, saying so, without.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "plugins/adapters.hpp"
#include "support/meta_calls.hpp"
#include "support/pg_test.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cumulo::plugins;
namespace pgt = cumulo::test::pg;
using cumulo::test::count_actions;
using cumulo::test::post;
using cumulo::test::put_action;

namespace {

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

// Plugin metrics ("pool_waits", …) as the host would count them.
std::mutex g_metrics_mu;
std::map<std::string, double> g_metrics;
double metric(const std::string& name) {
  std::lock_guard lk(g_metrics_mu);
  return g_metrics[name];
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval, not a wait for an event
  }
  return cond();
}

cm_status code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const PluginError& e) {
    return e.code();
  }
  return CM_OK;
}

class PgSpecific : public ::testing::Test {
 protected:
  static PluginManager& pm() {
    // Touch spdlog's registry first: statics die in reverse order, and the
    // manager logs while it unloads plugins at exit.
    spdlog::set_level(spdlog::level::warn);
    static HostHooks hooks{[](std::string_view, std::string_view name, double v) {
      std::lock_guard lk(g_metrics_mu);
      g_metrics[std::string(name)] += v;
    }};
    static PluginManager m({}, fs::temp_directory_path() / ("cumulo-pg-shadow-" + std::to_string(::getpid())), hooks);
    static bool loaded = [] {
      m.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "postgres.so");
      m.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "sqlite.so");
      return true;
    }();
    (void)loaded;
    return m;
  }
  void SetUp() override {
    if (auto why = pgt::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ci_ = pgt::conninfo();
    pm();
  }
  void TearDown() override {
    for (const auto& s : schemas_) pgt::drop_schema(ci_, s);
  }
  // A schema of this test's own, dropped at the end.
  std::string schema(const std::string& what = "spec") {
    schemas_.push_back(pgt::unique_schema(what));
    return schemas_.back();
  }
  static json opts(const std::string& ci, const std::string& schema, json more = json::object()) {
    json o = {{"conninfo", ci}, {"schema", schema}};
    o.update(more);
    return o;
  }
  std::shared_ptr<Instance> meta(const std::string& s, json more = json::object(), const std::string& ci = "") {
    return pm().create(CM_KIND_META, "meta-postgres", opts(ci.empty() ? ci_ : ci, s, std::move(more)).dump());
  }
  std::shared_ptr<Instance> auth(const std::string& s, json more = json::object()) {
    more["bcryptCost"] = 4;
    return pm().create(CM_KIND_AUTH, "auth-postgres", opts(ci_, s, std::move(more)).dump());
  }

  static json create_tenant(const std::shared_ptr<Instance>& m, const json& t) {
    StringSink s;
    cm_error err = new_error();
    std::string text = t.dump();
    check(m->factory().vt.meta.tenants->create_tenant(m->self(), to_cm(text), &s.sink, &err), err, "create_tenant");
    return json::parse(s.data);
  }
  std::string ci_;
  std::vector<std::string> schemas_;
};

TEST_F(PgSpecific, MigrationsAppliedOnceByHostsStartingTogether) {
  const std::string s = schema("meta"), sa = schema("auth");
  std::atomic<int> failures{0};
  std::vector<std::thread> ths;
  for (int i = 0; i < 6; ++i)
    ths.emplace_back([&, i] {
      try {
        if (i % 2)
          auth(sa).reset();
        else
          meta(s).reset();
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  for (auto& t : ths) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(pgt::query(ci_, "SELECT count(*) || '|' || min(version) || '|' || max(version) FROM \"" + s + "\".meta_schema_version"), "2|1|2");
  EXPECT_EQ(pgt::query(ci_, "SELECT count(*) FROM \"" + sa + "\".auth_schema_version"), "1");
  // Every meta table except the bookkeeping carries tn_id.
  EXPECT_EQ(pgt::query(ci_, "SELECT count(*) FROM information_schema.tables t WHERE table_schema = '" + s +
                                "' AND table_name <> 'meta_schema_version' AND NOT EXISTS (SELECT 1 FROM information_schema.columns c "
                                "WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'tn_id')"),
            "0");
}

// meta and auth may share a schema: meta's delete_tenant purges only the
// tables meta's migrations created. A schema from a newer plugin is refused.
TEST_F(PgSpecific, SharedSchemaKeepsAuthApartNewerSchemaRefused) {
  const std::string s = schema();
  auto m = meta(s);
  auto a = auth(s);
  AuthHandle(a).set_password(kA, "pw");
  create_tenant(m, {{"idTag", "alice.test"}, {"type", "P"}, {"tnId", 1}});
  MetaHandle(m).put_setting(kA, "k", "1");
  cm_error err = new_error();
  auto c = kA.c();
  check(m->factory().vt.meta.tenants->delete_tenant(m->self(), &c, &err), err, "delete_tenant");
  EXPECT_EQ(code_of([&] { MetaHandle(m).get_setting(kA, "k"); }), CM_NOT_FOUND);
  EXPECT_TRUE(AuthHandle(a).check_password(kA, "pw"));  // auth's rows untouched
  EXPECT_EQ(pgt::query(ci_, "SELECT obj_description('\"" + s + "\".passwords'::regclass, 'pg_class')"), "cumulo:auth");
  m.reset();
  pgt::exec(ci_, "INSERT INTO \"" + s + "\".meta_schema_version VALUES (999, 0)");
  try {
    meta(s);
    ADD_FAILURE() << "opened a schema from the future";
  } catch (const PluginError& e) {
    EXPECT_EQ(e.code(), CM_INVALID);
    EXPECT_NE(std::string(e.what()).find("999"), std::string::npos) << e.what();
  }
}

// Migration 2 on a schema made by version 1 (tokens in their own table):
// every token moves into its row, nothing else changes.
TEST_F(PgSpecific, Migration2MovesTokensIntoRows) {
  const std::string s = schema();
  cumulo::test::put_posts_with_tokens(meta(s), kA);
  const std::string q = "\"" + s + "\".";
  pgt::exec(ci_, "CREATE TABLE " + q +
                     "action_tokens (tn_id BIGINT NOT NULL, action_id TEXT COLLATE \"C\" NOT NULL, token TEXT NOT NULL, "
                     "PRIMARY KEY (tn_id, action_id))");
  pgt::exec(ci_, "INSERT INTO " + q + "action_tokens SELECT tn_id, action_id, token FROM " + q + "actions WHERE token IS NOT NULL");
  pgt::exec(ci_, "ALTER TABLE " + q + "actions DROP COLUMN token");
  pgt::exec(ci_, "DELETE FROM " + q + "meta_schema_version WHERE version = 2");
  ASSERT_EQ(pgt::query(ci_, "SELECT count(*) FROM " + q + "action_tokens"), "4");

  auto m = meta(s);
  EXPECT_EQ(pgt::query(ci_, "SELECT max(version) FROM " + q + "meta_schema_version"), "2");
  EXPECT_EQ(pgt::query(ci_, "SELECT count(*) FROM information_schema.tables WHERE table_schema = '" + s + "' AND table_name = 'action_tokens'"), "0");
  EXPECT_EQ(cumulo::test::tokens_of_posts(m, kA), cumulo::test::kPostsTokens);
  EXPECT_EQ(count_actions(m, kA), 5u);
}

TEST_F(PgSpecific, BadOptionsAreRefused) {
  const std::string ci = json(ci_).dump();
  for (std::string o : {std::string("{}"), std::string("not json"), std::string(R"({"conninfo":""})"), std::string(R"({"conninfo":"host=x bogus"})"),
                        R"({"conninfo":)" + ci + R"(,"schema":"Bad-Name"})", R"({"conninfo":)" + ci + R"(,"schema":"pg_nope"})",
                        R"({"conninfo":)" + ci + R"(,"poolSize":0})", R"({"conninfo":)" + ci + R"(,"acquireTimeoutMs":"1s"})",
                        R"({"conninfo":)" + ci + R"(,"path":"/tmp/x.db"})", R"({"conninfo":)" + ci + R"(,"bcryptCost":4})"}) {
    try {
      pm().create(CM_KIND_META, "meta-postgres", o);
      ADD_FAILURE() << "accepted " << o;
    } catch (const PluginError& e) {
      EXPECT_EQ(e.code(), CM_INVALID) << o << ": " << e.what();
    }
  }
  try {
    pm().create(CM_KIND_AUTH, "auth-postgres", opts(ci_, schema(), {{"bcryptCost", 2}}).dump());
    ADD_FAILURE() << "accepted bcryptCost 2";
  } catch (const PluginError& e) {
    EXPECT_EQ(e.code(), CM_INVALID);
  }
  // A server that is not there: unavailable, not invalid.
  try {
    meta(schema(), json::object(), "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2");
    ADD_FAILURE() << "connected to port 1";
  } catch (const PluginError& e) {
    EXPECT_EQ(e.code(), CM_UNAVAILABLE) << e.what();
  }
}

// poolSize 1: while a statement holds the only connection (blocked on a
// table lock taken from outside), another call waits for the pool and then
// succeeds; with a short acquireTimeoutMs it fails with CM_UNAVAILABLE.
TEST_F(PgSpecific, PoolExhaustionWaitsThenSucceeds) {
  const std::string s = schema();
  auto patient = meta(s, {{"poolSize", 1}, {"acquireTimeoutMs", 60000}});
  auto hasty = meta(s, {{"poolSize", 1}, {"acquireTimeoutMs", 100}});
  MetaHandle(patient).put_setting(kA, "k", "1");  // both pools hold their one connection now
  MetaHandle(hasty).put_setting(kA, "k", "1");

  pgt::Session locker(ci_);
  locker.query("BEGIN");
  locker.query("LOCK TABLE \"" + s + "\".settings IN ACCESS EXCLUSIVE MODE");
  auto blocked = [&](int n) {
    return eventually([&] {
      return pgt::query(ci_, "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '\"" + s + "\".settings'::regclass") == std::to_string(n);
    });
  };
  // Each pool's only connection waits on the lock.
  std::atomic<bool> released{false};
  cm_status first_p = CM_INTERNAL, first_h = CM_INTERNAL;
  std::thread tp([&] { first_p = code_of([&] { MetaHandle(patient).put_setting(kA, "k", "2"); }); });
  std::thread th([&] { first_h = code_of([&] { MetaHandle(hasty).put_setting(kA, "k", "3"); }); });
  ASSERT_TRUE(blocked(2));

  // The hasty instance gives up after 100 ms, saying why.
  try {
    MetaHandle(hasty).get_setting(kA, "k");
    ADD_FAILURE() << "got a connection from an exhausted pool";
  } catch (const PluginError& e) {
    EXPECT_EQ(e.code(), CM_UNAVAILABLE);
    EXPECT_NE(std::string(e.what()).find("no free connection"), std::string::npos) << e.what();
  }
  // The patient one waits (counted by the pool) and succeeds once freed.
  const double waits = metric("pool_waits");
  std::atomic<bool> done{false};
  bool done_before_release = true;
  std::string got;
  std::thread waiter([&] {
    got = MetaHandle(patient).get_setting(kA, "k");
    done_before_release = !released.load();
    done = true;
  });
  ASSERT_TRUE(eventually([&] { return metric("pool_waits") > waits; }));
  EXPECT_FALSE(done.load());
  released = true;
  locker.query("COMMIT");
  waiter.join();
  tp.join();
  th.join();
  EXPECT_FALSE(done_before_release);
  EXPECT_EQ(first_p, CM_OK);
  EXPECT_EQ(first_h, CM_OK);
  EXPECT_TRUE(got == "2" || got == "3") << got;
}

// A private server, stopped and started again while threads keep calling:
// calls fail with CM_UNAVAILABLE (nothing else) while it is down and succeed
// again once it is back, with the data from before.
TEST_F(PgSpecific, ServerRestartMidUseFailsUnavailableThenRecovers) {
  const fs::path dir = fs::temp_directory_path() / ("cumulo-pg-restart-" + std::to_string(::getpid()));
  const std::string script = std::string(CUMULO_SOURCE_DIR) + "/scripts/pg-test-server.sh";
  std::string started;
  {
    FILE* f = ::popen((script + " start " + dir.string() + " 2>&1").c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) started += buf;
    ASSERT_EQ(::pclose(f), 0) << started;
  }
  struct Stop {
    std::string cmd;
    ~Stop() { (void)std::system(cmd.c_str()); }
  } stop{script + " stop " + dir.string() + " >/dev/null 2>&1"};
  auto q1 = started.find('\''), q2 = started.rfind('\'');
  ASSERT_NE(q1, q2) << started;
  const std::string ci = started.substr(q1 + 1, q2 - q1 - 1);

  auto m = pm().create(CM_KIND_META, "meta-postgres", opts(ci, "restart", {{"poolSize", 4}, {"acquireTimeoutMs", 2000}}).dump());
  MetaHandle h(m);
  h.put_setting(kA, "before", R"("kept")");

  std::atomic<bool> stop_calls{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::mutex mu;
  std::string other_error;
  std::vector<std::thread> ths;
  for (int t = 0; t < 4; ++t)
    ths.emplace_back([&, t] {
      for (int i = 0; !stop_calls; ++i) {
        try {
          h.put_setting(kA, "t" + std::to_string(t), std::to_string(i));
          ++ok;
        } catch (const PluginError& e) {
          if (e.code() == CM_UNAVAILABLE) {
            ++unavailable;
          } else {
            ++other;
            std::lock_guard lk(mu);
            other_error = e.what();
          }
        }
      }
    });
  ASSERT_TRUE(eventually([&] { return ok.load() > 20; }));
  ASSERT_EQ(std::system((script + " halt " + dir.string()).c_str()), 0);
  ASSERT_TRUE(eventually([&] { return unavailable.load() > 10; }));
  EXPECT_EQ(code_of([&] { h.health(); }), CM_UNAVAILABLE);
  ASSERT_EQ(std::system((script + " resume " + dir.string()).c_str()), 0);
  const int ok_at_resume = ok.load();
  EXPECT_TRUE(eventually([&] { return ok.load() > ok_at_resume + 20; })) << "calls did not recover after the restart";
  stop_calls = true;
  for (auto& t : ths) t.join();
  EXPECT_EQ(other.load(), 0) << other_error;
  EXPECT_EQ(code_of([&] { h.health(); }), CM_OK);
  EXPECT_EQ(json::parse(h.get_setting(kA, "before")), "kept");
}

// Many threads on two instances of one schema (the old and the new during a
// hot reload), including puts overriding each other by key: no errors, every
// post counted, task dedup held.
TEST_F(PgSpecific, ConcurrentWritersFromManyThreadsWithoutErrors) {
  const std::string s = schema();
  auto m1 = meta(s, {{"poolSize", 4}});
  auto m2 = meta(s, {{"poolSize", 4}});
  auto r = cumulo::test::mixed_load({m1, m2}, 12, std::chrono::seconds(3), /*keyed=*/true);
  EXPECT_EQ(r.errors, 0) << r.first_error;
  EXPECT_GT(r.posts, 50);
  // Active: the posts, plus at most one action per reaction key (3) and
  // tenant (2); superseded reactions stay stored with status D.
  size_t total = count_actions(m1, kA, "A") + count_actions(m1, kB, "A");
  EXPECT_GE(total, static_cast<size_t>(r.posts));
  EXPECT_LE(total, static_cast<size_t>(r.posts) + 6);
  std::set<int64_t> pending;
  for (const auto& t : json::parse(MetaHandle(m1).list_pending_tasks())) pending.insert(t["id"].get<int64_t>());
  EXPECT_EQ(pending.size(), 7u);  // dedup held under contention
}

TEST_F(PgSpecific, InstancesWithDifferentSchemasAreIsolated) {
  const std::string s1 = schema("iso1"), s2 = schema("iso2");
  auto m1 = meta(s1), m2 = meta(s2);
  json t1 = create_tenant(m1, {{"idTag", "alice.test"}, {"type", "P"}});
  json t2 = create_tenant(m2, {{"idTag", "alice.test"}, {"type", "P"}});  // no conflict: other schema
  EXPECT_EQ(t1["tnId"], t2["tnId"]);                                      // each schema numbers its own tenants
  MetaHandle(m1).put_setting(kA, "only", R"("in s1")");
  put_action(m1, kA, post("a1", 1));
  EXPECT_EQ(code_of([&] { MetaHandle(m2).get_setting(kA, "only"); }), CM_NOT_FOUND);
  EXPECT_EQ(count_actions(m2, kA), 0u);
  auto a1 = auth(schema("iso3")), a2 = auth(schema("iso4"));
  AuthHandle(a1).set_password(kA, "pw");
  EXPECT_TRUE(AuthHandle(a1).check_password(kA, "pw"));
  EXPECT_FALSE(AuthHandle(a2).check_password(kA, "pw"));
  EXPECT_EQ(pgt::query(ci_, "SELECT count(*) FROM \"" + s2 + "\".settings"), "0");
}

// bcrypt hashes written by auth-sqlite verify in auth-postgres and the other
// way round (tenant migration moves them unchanged).
TEST_F(PgSpecific, PasswordHashesInterchangeableWithAuthSqlite) {
  const std::string s = schema("auth");
  const fs::path dir = fs::temp_directory_path() / ("cumulo-pg-hash-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct Rm {
    fs::path p;
    ~Rm() { fs::remove_all(p); }
  } rm{dir};
  auto lite = pm().create(CM_KIND_AUTH, "auth-sqlite", json{{"path", (dir / "auth.db").string()}, {"bcryptCost", 4}}.dump());
  auto pg = auth(s);
  AuthHandle(lite).set_password(kA, "from sqlite ✓");
  AuthHandle(pg).set_password(kB, "from postgres ✓");
  auto sqlite_query = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir / "auth.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  };
  const std::string lite_hash = sqlite_query("SELECT hash FROM passwords WHERE tn_id = 1");
  const std::string pg_hash = pgt::query(ci_, "SELECT hash FROM \"" + s + "\".passwords WHERE tn_id = 2");
  ASSERT_EQ(lite_hash.rfind("$2b$", 0), 0u) << lite_hash;
  ASSERT_EQ(pg_hash.rfind("$2b$", 0), 0u) << pg_hash;
  pgt::exec(ci_, "INSERT INTO \"" + s + "\".passwords VALUES (1, '" + lite_hash + "', 0)");
  sqlite_query("INSERT INTO passwords VALUES (2, '" + pg_hash + "', 0) RETURNING tn_id");
  EXPECT_TRUE(AuthHandle(pg).check_password(kA, "from sqlite ✓"));
  EXPECT_TRUE(AuthHandle(lite).check_password(kB, "from postgres ✓"));
  EXPECT_FALSE(AuthHandle(pg).check_password(kA, "from postgres ✓"));
}

}  // namespace
