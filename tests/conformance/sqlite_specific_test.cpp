// meta-sqlite / auth-sqlite behaviour the generic suites cannot see: the
// schema_version bookkeeping, WAL mode, data surviving a reopen, option
// validation, the feed query's plan, and no "database is locked" when two
// instances (as during a hot reload) hammer one file from 8 threads.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "plugins/adapters.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cumulo::plugins;

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

  static json put_action(const std::shared_ptr<Instance>& m, const TenantRef& tn, const json& a) {
    StringSink s;
    cm_error err = new_error();
    auto c = tn.c();
    std::string text = a.dump();
    check(m->factory().vt.meta.actions->put_action(m->self(), &c, to_cm(text), &s.sink, &err), err, "put_action");
    return json::parse(s.data);
  }
  static json list_actions(const std::shared_ptr<Instance>& m, const TenantRef& tn, const json& f) {
    StringSink s;
    cm_error err = new_error();
    auto c = tn.c();
    std::string text = f.dump();
    check(m->factory().vt.meta.actions->list_actions(m->self(), &c, to_cm(text), &s.sink, &err), err, "list_actions");
    return json::parse(s.data);
  }
  static json action(const std::string& id, int64_t t, const std::string& vis = "P") {
    return {{"actionId", id}, {"type", "POST"}, {"issuerTag", "alice.test"}, {"createdAt", t}, {"visibility", vis}, {"content", {{"text", "x"}}}};
  }

  fs::path dir_;
};

TEST_F(SqliteSpecific, MigrationsAppliedOnceAndRecordedWalMode) {
  for (int i = 0; i < 3; ++i) {
    meta().reset();
    auth().reset();
  }
  for (const char* f : {"meta.db", "auth.db"}) {
    EXPECT_EQ(query(dir_ / f, "SELECT count(*), min(version), max(version) FROM schema_version"), "1|1|1") << f;
    EXPECT_EQ(query(dir_ / f, "PRAGMA journal_mode"), "wal") << f;
  }
  // Every table except the bookkeeping carries tn_id.
  EXPECT_EQ(query(dir_ / "meta.db",
                  "SELECT group_concat(name) FROM sqlite_schema m WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_version' "
                  "AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'tn_id')"),
            "NULL");
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
    put_action(m, kA, action("kept", 7));
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
}

// Two instances on one file (the old and the new during a hot reload): their
// writers contend through SQLite's lock, which busy_timeout must absorb.
TEST_F(SqliteSpecific, NoDatabaseLockedUnderConcurrentLoad) {
  auto m1 = meta();
  auto m2 = meta();
  std::atomic<int> errors{0}, writes{0};
  std::mutex mu;
  std::string first_error;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::vector<std::thread> ths;
  for (int t = 0; t < 8; ++t)
    ths.emplace_back([&, t] {
      auto& m = t % 2 ? m1 : m2;
      const TenantRef& tn = t % 4 < 2 ? kA : kB;
      MetaHandle h(m);
      for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
        try {
          switch (i % 4) {
            case 0:
              put_action(m, tn, action("t" + std::to_string(t) + "-" + std::to_string(i), i));
              ++writes;
              break;
            case 1: list_actions(m, tn, {{"visibility", {"P", "F"}}}); break;
            case 2:
              h.put_setting(tn, "k" + std::to_string(i % 50), std::to_string(i));
              h.create_task(json{{"kind", "k"}, {"key", std::to_string(i % 7)}}.dump());
              break;
            default: h.get_setting(tn, "k" + std::to_string((i - 1) % 50)); break;
          }
        } catch (const std::exception& e) {
          ++errors;
          std::lock_guard lk(mu);
          if (first_error.empty()) first_error = e.what();
        }
      }
    });
  for (auto& th : ths) th.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
  EXPECT_GT(writes.load(), 100);
  size_t total = 0;
  for (const auto& tn : {kA, kB}) {
    json f = {{"limit", 500}};
    for (;;) {
      json r = list_actions(m1, tn, f);
      total += r["actions"].size();
      if (r["cursor"].is_null()) break;
      f["cursor"] = r["cursor"];
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(writes.load()));
}

}  // namespace
