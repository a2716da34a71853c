// meta-sqlite / auth-sqlite behaviour the generic suites cannot see: the
// schema_version bookkeeping, WAL mode, data surviving a reopen, option
// validation, the feed query's plan, and no "database is locked" when two
// instances (as during a hot reload) hammer one file from 8 threads, and the
// writer's group commit (a failing write in a batch rolls back alone).
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "plugins/adapters.hpp"
#include "sqlite/db.hpp"
#include "sqlite/wal_vfs.hpp"

#include <cumulo/sdk.hpp>
#include "support/meta_calls.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cumulo::plugins;
using cumulo::test::list_actions;
using cumulo::test::put_action;

namespace {

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

class SqliteSpecific : public ::testing::Test {
 protected:
  static PluginManager& pm() {
    // Touch spdlog's registry first: statics die in reverse order, and the
    // manager logs while it unloads plugins at exit.
    spdlog::set_level(spdlog::level::warn);
    static PluginManager m({}, fs::temp_directory_path() / ("cumulo-sqlite-shadow-" + std::to_string(::getpid())));
    static bool loaded = [] {
      m.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "sqlite.so");
      return true;
    }();
    (void)loaded;
    return m;
  }
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cumulo-sqlite-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::shared_ptr<Instance> meta() { return pm().create(CM_KIND_META, "meta-sqlite", json{{"path", (dir_ / "meta.db").string()}}.dump()); }
  std::shared_ptr<Instance> auth() { return pm().create(CM_KIND_AUTH, "auth-sqlite", json{{"path", (dir_ / "auth.db").string()}, {"bcryptCost", 4}}.dump()); }

  // One-row, one-column query on a raw connection to `file`.
  static std::string query(const fs::path& file, const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        if (!out.empty()) out += "\n";
        for (int i = 0; i < sqlite3_column_count(st); ++i) {
          const unsigned char* t = sqlite3_column_text(st, i);
          out += (i ? "|" : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
        }
      }
    } else {
      ADD_FAILURE() << sqlite3_errmsg(db);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  fs::path dir_;
};

TEST_F(SqliteSpecific, MigrationsAppliedOnceAndRecordedWalMode) {
  for (int i = 0; i < 3; ++i) {
    meta().reset();
    auth().reset();
  }
  EXPECT_EQ(query(dir_ / "meta.db", "SELECT count(*), min(version), max(version) FROM schema_version"), "2|1|2");
  EXPECT_EQ(query(dir_ / "auth.db", "SELECT count(*), min(version), max(version) FROM schema_version"), "1|1|1");
  for (const char* f : {"meta.db", "auth.db"}) EXPECT_EQ(query(dir_ / f, "PRAGMA journal_mode"), "wal") << f;
  // Every table except the bookkeeping carries tn_id.
  EXPECT_EQ(query(dir_ / "meta.db",
                  "SELECT group_concat(name) FROM sqlite_schema m WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_version' "
                  "AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'tn_id')"),
            "NULL");
}

// Migration 2 on a database made by version 1 (tokens in their own table,
// descending feed indexes): every token moves into its row, the indexes turn
// ascending, feeds keep their newest-first order and their cursors.
TEST_F(SqliteSpecific, Migration2MovesTokensIntoRowsAndKeepsTheFeed) {
  cumulo::test::put_posts_with_tokens(meta(), kA);
  // Back to the version-1 layout, rows and tokens included.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "meta.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE action_tokens (tn_id INTEGER NOT NULL, action_id TEXT NOT NULL, token TEXT NOT NULL, "
                         "PRIMARY KEY (tn_id, action_id)) WITHOUT ROWID;"
                         "INSERT INTO action_tokens SELECT tn_id, action_id, token FROM actions WHERE token IS NOT NULL;"
                         "ALTER TABLE actions DROP COLUMN token;"
                         "DROP INDEX actions_time; CREATE INDEX actions_time ON actions (tn_id, created_at DESC, action_id DESC, visibility);"
                         "DROP INDEX actions_vis_time; CREATE INDEX actions_vis_time ON actions (tn_id, visibility, created_at DESC, action_id DESC);"
                         "DELETE FROM schema_version WHERE version = 2;",
                         nullptr, nullptr, &err),
            SQLITE_OK)
      << err;
  sqlite3_close(db);
  ASSERT_EQ(query(dir_ / "meta.db", "SELECT count(*) FROM action_tokens"), "4");

  auto m = meta();
  EXPECT_EQ(query(dir_ / "meta.db", "SELECT max(version) FROM schema_version"), "2");
  EXPECT_EQ(query(dir_ / "meta.db", "SELECT count(*) FROM sqlite_schema WHERE name = 'action_tokens'"), "0");
  EXPECT_EQ(query(dir_ / "meta.db", "SELECT count(*) FROM sqlite_schema WHERE name IN ('actions_time', 'actions_vis_time') AND sql NOT LIKE '%DESC%'"), "2");
  EXPECT_EQ(cumulo::test::tokens_of_posts(m, kA), cumulo::test::kPostsTokens);
  put_action(m, kA, cumulo::test::post("p6", 106));
  auto page = list_actions(m, kA, json{{"limit", 4}});
  std::vector<std::string> ids;
  for (const auto& a : page["actions"]) ids.push_back(a["actionId"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"p6", "p5", "p4", "p3"}));
  ASSERT_TRUE(page["cursor"].is_string());
  auto rest = list_actions(m, kA, json{{"limit", 4}, {"cursor", page["cursor"]}});
  ASSERT_EQ(rest["actions"].size(), 2u);
  EXPECT_EQ(rest["actions"][0]["actionId"], "p2");
  EXPECT_EQ(rest["actions"][1]["actionId"], "p1");
}

TEST_F(SqliteSpecific, NewerSchemaIsRefused) {
  meta().reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "meta.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES(999, 0)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  try {
    meta();
    FAIL() << "opened a DB from the future";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("999"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteSpecific, ReopenKeepsData) {
  {
    auto m = meta();
    put_action(m, kA, cumulo::test::post("kept", 7));
    MetaHandle(m).put_setting(kA, "s", R"({"v":1})");
    AuthHandle(auth()).set_password(kA, "pw");
  }
  auto m = meta();
  EXPECT_EQ(list_actions(m, kA, json::object())["actions"][0]["actionId"], "kept");
  EXPECT_EQ(json::parse(MetaHandle(m).get_setting(kA, "s"))["v"], 1);
  EXPECT_TRUE(AuthHandle(auth()).check_password(kA, "pw"));
}

TEST_F(SqliteSpecific, BadOptionsAreRefused) {
  for (const char* opts : {"{}", R"({"path":"relative.db"})", R"({"path":"/tmp/x.db","busyTimeoutMs":"5s"})", R"({"path":"/tmp/x.db","typo":1})", "not json"}) {
    try {
      pm().create(CM_KIND_META, "meta-sqlite", opts);
      ADD_FAILURE() << "accepted " << opts;
    } catch (const PluginError& e) {
      EXPECT_EQ(e.code(), CM_INVALID) << opts;
    }
  }
  try {
    pm().create(CM_KIND_AUTH, "auth-sqlite", json{{"path", (dir_ / "a.db").string()}, {"bcryptCost", 2}}.dump());
    ADD_FAILURE() << "accepted bcryptCost 2";
  } catch (const PluginError& e) {
    EXPECT_EQ(e.code(), CM_INVALID);
  }
}

TEST_F(SqliteSpecific, FeedQueryIsAnIndexScan) {
  meta().reset();
  std::string plan = query(dir_ / "meta.db",
                           "EXPLAIN QUERY PLAN SELECT action_id FROM actions WHERE tn_id = 1 AND visibility IN ('P','F') "
                           "ORDER BY created_at DESC, action_id DESC LIMIT 20");
  EXPECT_NE(plan.find("INDEX actions_"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("SCAN actions\n"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;  // the index gives the order
}

// Two instances on one file (the old and the new during a hot reload): their
// writers contend through SQLite's lock, which busy_timeout must absorb.
TEST_F(SqliteSpecific, NoDatabaseLockedUnderConcurrentLoad) {
  auto m1 = meta();
  auto m2 = meta();
  auto r = cumulo::test::mixed_load({m1, m2}, 8, std::chrono::seconds(3));
  EXPECT_EQ(r.errors, 0) << r.first_error;
  EXPECT_GT(r.posts, 100);
  EXPECT_EQ(cumulo::test::count_actions(m1, kA) + cumulo::test::count_actions(m1, kB), static_cast<size_t>(r.posts));
}

// Writers queued behind a running one are committed together by the next
// leader; the one that throws inside the batch loses only its own rows.
TEST_F(SqliteSpecific, GroupCommitRollsBackOnlyTheFailingWrite) {
  using cumulo::sqlite::Connection;
  cumulo::sqlite::Database db({(dir_ / "g.db").string(), 5000, 2}, {{1, "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"}});
  std::mutex gate;
  std::unique_lock hold(gate);  // the first writer waits on this inside its transaction
  std::thread first([&] {
    db.write([&](Connection& c) {
      std::lock_guard wait(gate);
      c.prepare("INSERT INTO t VALUES('first', 0)").run();
    });
  });
  // Wait (with a deadline) until the first writer leads, then queue 5 more.
  auto queued_at_least = [&](size_t n) {
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20); std::chrono::steady_clock::now() < until;) {
      if (db.pending_writes() >= n) return true;
      std::this_thread::yield();
    }
    return false;
  };
  ASSERT_TRUE(queued_at_least(1));
  std::mutex mu;
  std::set<std::thread::id> ran_on;
  std::vector<std::string> outcome(5);
  std::vector<std::thread> rest;
  for (int i = 0; i < 5; ++i)
    rest.emplace_back([&, i] {
      try {
        db.write([&](Connection& c) {
          {
            std::lock_guard lk(mu);
            ran_on.insert(std::this_thread::get_id());
          }
          c.prepare("INSERT INTO t VALUES(?, ?)").bind(1, "w" + std::to_string(i)).bind(2, int64_t{i}).run();
          if (i == 2) {  // a second row, then a constraint failure: both must go
            c.prepare("INSERT INTO t VALUES('w2-extra', 2)").run();
            c.prepare("INSERT INTO t VALUES('first', 9)").run();
          }
        });
        outcome[static_cast<size_t>(i)] = "ok";
      } catch (const cumulo::sdk::Error& e) {
        outcome[static_cast<size_t>(i)] = e.code() == CM_CONFLICT ? "conflict" : e.what();
      }
    });
  ASSERT_TRUE(queued_at_least(6));
  hold.unlock();
  first.join();
  for (auto& t : rest) t.join();
  EXPECT_EQ(outcome, (std::vector<std::string>{"ok", "ok", "conflict", "ok", "ok"}));
  EXPECT_EQ(ran_on.size(), 1u) << "the five queued writes should have run in one batch, on its leader's thread";
  auto rows = db.read([](Connection& c) {
    std::vector<std::string> v;
    auto st = c.prepare("SELECT k FROM t ORDER BY k");
    while (st.step()) v.push_back(st.str(0));
    return v;
  });
  EXPECT_EQ(rows, (std::vector<std::string>{"first", "w0", "w1", "w3", "w4"}));
  // The writer is usable afterwards, alone or batched.
  db.write([](Connection& c) { c.prepare("INSERT INTO t VALUES('after', 1)").run(); });
  EXPECT_EQ(db.pending_writes(), 0u);
}

// The WAL shim (sqlite/wal_vfs.hpp): a commit's frames reach the file in one
// write, and at once — a connection on SQLite's default VFS sees the row as
// soon as write() returns.
TEST_F(SqliteSpecific, WalShimWritesACommitInOneCall) {
  using cumulo::sqlite::Connection;
  const auto file = dir_ / "w.db";
  cumulo::sqlite::Database db({file.string(), 5000, 1}, {{1, "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX t_v ON t(v)"}});
  for (int i = 0; i < 20; ++i) {
    const auto before = cumulo::sqlite::wal_write_stats();
    db.write([&](Connection& c) { c.prepare("INSERT INTO t VALUES(?, ?)").bind(1, "k" + std::to_string(i)).bind(2, std::string(300, 'a' + i % 26)).run(); });
    const auto after = cumulo::sqlite::wal_write_stats();
    // Table, primary-key index and t_v: three frames or more, six appends.
    EXPECT_GE(after.appends - before.appends, 6u);
    EXPECT_EQ(after.writes - before.writes, 1u) << "commit " << i;
    EXPECT_EQ(query(file, "SELECT count(*) FROM t"), std::to_string(i + 1));
  }
}

// Transactions larger than the shim's buffer and than SQLite's page cache
// (frames spilled before the commit, pages rewritten in place, checksums
// redone), then a copy of the files taken while the database is open — what
// a crash right after the commit leaves — hold every committed row.
TEST_F(SqliteSpecific, WalShimKeepsSpilledAndRewrittenTransactions) {
  using cumulo::sqlite::Connection;
  const auto file = dir_ / "big.db";
  cumulo::sqlite::Database db({file.string(), 5000, 1}, {{1, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)"}});
  const auto before = cumulo::sqlite::wal_write_stats();
  db.write([](Connection& c) {
    c.exec("PRAGMA cache_size=8");  // spill to the WAL mid-transaction
    for (int64_t k = 0; k < 3000; ++k) c.prepare("INSERT INTO t VALUES(?, zeroblob(700))").bind(1, k).run();
    // Rewrites pages already spilled by this transaction.
    c.prepare("UPDATE t SET v = randomblob(700) WHERE k % 3 = 0").run();
  });
  db.write([](Connection& c) { c.prepare("DELETE FROM t WHERE k >= 2900").run(); });
  const auto after = cumulo::sqlite::wal_write_stats();
  EXPECT_GT(after.writes - before.writes, 2u) << "2 MB of frames should not sit in one buffer";
  EXPECT_LT(after.writes, after.appends);
  const std::string expect = "2900|967";
  const std::string sql = "SELECT count(*), sum(v != zeroblob(700)) FROM t";
  EXPECT_EQ(query(file, sql), expect);
  EXPECT_EQ(query(file, "PRAGMA integrity_check"), "ok");
  const auto copy = dir_ / "copy.db";
  fs::copy_file(file, copy);
  fs::copy_file(fs::path(file.string() + "-wal"), fs::path(copy.string() + "-wal"));
  EXPECT_EQ(query(copy, sql), expect);
  EXPECT_EQ(query(copy, "PRAGMA integrity_check"), "ok");
}

}  // namespace
