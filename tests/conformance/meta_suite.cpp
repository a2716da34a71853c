// Meta adapter conformance: the parts an adapter provides (tasks, settings,
// records now; tenants, actions and files when their shapes are fixed) behave
// as docs/sdk.md §6.2 specifies. A part the adapter lacks is skipped.
#include <nlohmann/json.hpp>
#include <thread>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using json = nlohmann::json;
using plugins::MetaHandle;
using plugins::PluginError;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

class MetaConformance : public AdapterFixture {
 protected:
  MetaHandle meta() const { return MetaHandle(inst_); }
  const cm_meta_vtable& vt() const { return inst_->factory().vt.meta; }
  // Slots MetaHandle does not wrap: called through the table directly.
  json list_settings(const TenantRef& tn, std::string_view prefix) const {
    plugins::StringSink s;
    auto ct = tn.c();
    cm_error err = plugins::new_error();
    plugins::check(vt().settings->list_settings(inst_->self(), &ct, plugins::to_cm(prefix), &s.sink, &err), err, "list_settings");
    return json::parse(s.data);
  }
  json list_records(const TenantRef& tn, std::string_view coll, std::string_view filter) const {
    plugins::StringSink s;
    auto ct = tn.c();
    cm_error err = plugins::new_error();
    plugins::check(vt().records->list_records(inst_->self(), &ct, plugins::to_cm(coll), plugins::to_cm(filter), &s.sink, &err), err, "list_records");
    return json::parse(s.data);
  }
  static json task(const std::string& kind, const std::string& key = "", const std::string& status = "P") {
    return {{"kind", kind}, {"key", key}, {"status", status}, {"priority", "medium"}, {"nextAt", 0}, {"attempt", 0}, {"cron", ""},
            {"deps", json::array()}, {"input", "in-" + kind}, {"output", ""}, {"error", ""}, {"createdAt", 1}};
  }
};

TEST_P(MetaConformance, SettingsRoundTripAndIsolation) {
  if (!meta().has_settings()) GTEST_SKIP() << "no settings part";
  auto m = meta();
  m.put_setting(kA, "ui.theme", R"("dark")");
  m.put_setting(kA, "ui.lang", R"({"code":"hu","rtl":false})");
  m.put_setting(kA, "other", "42");
  EXPECT_EQ(json::parse(m.get_setting(kA, "ui.theme")), "dark");
  EXPECT_EQ(json::parse(m.get_setting(kA, "ui.lang"))["code"], "hu");
  auto listed = list_settings(kA, "ui.");
  EXPECT_EQ(listed, (json{{"ui.lang", {{"code", "hu"}, {"rtl", false}}}, {"ui.theme", "dark"}}));
  // Tenant B sees nothing of A.
  EXPECT_EQ(code_of([&] { m.get_setting(kB, "ui.theme"); }), CM_NOT_FOUND);
  EXPECT_TRUE(list_settings(kB, "").empty());
  m.put_setting(kA, "ui.theme", R"("light")");  // overwrite
  EXPECT_EQ(json::parse(m.get_setting(kA, "ui.theme")), "light");
  m.delete_setting(kA, "ui.theme");
  EXPECT_EQ(code_of([&] { m.get_setting(kA, "ui.theme"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { m.delete_setting(kA, "ui.theme"); }), CM_NOT_FOUND);
}

TEST_P(MetaConformance, SettingsUnicodeAndOddKeys) {
  if (!meta().has_settings()) GTEST_SKIP() << "no settings part";
  auto m = meta();
  const std::string key = "名前/../ünïcödé key";
  m.put_setting(kA, key, json("värde ✓").dump());
  EXPECT_EQ(json::parse(m.get_setting(kA, key)), "värde ✓");
  EXPECT_EQ(list_settings(kA, "名前").size(), 1u);
}

TEST_P(MetaConformance, RecordsFilterAndIsolation) {
  if (!meta().has_records()) GTEST_SKIP() << "no records part";
  auto m = meta();
  m.put_record(kA, "refs", "r1", json{{"type", "share"}, {"n", 1}}.dump());
  m.put_record(kA, "refs", "r2", json{{"type", "login"}, {"n", 2}}.dump());
  m.put_record(kA, "tags", "t1", json{{"tag", "x"}}.dump());
  m.put_record(kB, "refs", "r1", json{{"type", "share"}, {"n", 99}}.dump());
  EXPECT_EQ(json::parse(m.get_record(kA, "refs", "r1"))["n"], 1);
  EXPECT_EQ(json::parse(m.get_record(kB, "refs", "r1"))["n"], 99);
  auto all = list_records(kA, "refs", "");
  ASSERT_EQ(all.size(), 2u);
  auto shares = list_records(kA, "refs", R"({"type":"share"})");
  ASSERT_EQ(shares.size(), 1u);
  EXPECT_EQ(shares[0]["n"], 1);
  m.delete_record(kA, "refs", "r1");
  EXPECT_EQ(code_of([&] { m.get_record(kA, "refs", "r1"); }), CM_NOT_FOUND);
  EXPECT_EQ(json::parse(m.get_record(kB, "refs", "r1"))["n"], 99);  // B untouched
}

TEST_P(MetaConformance, TasksCreateDedupUpdateList) {
  if (!meta().has_tasks()) GTEST_SKIP() << "no tasks part";
  auto m = meta();
  auto a = json::parse(m.create_task(task("k1", "dedup-1").dump()))["id"].get<int64_t>();
  auto b = json::parse(m.create_task(task("k1", "dedup-1").dump()))["id"].get<int64_t>();
  EXPECT_EQ(a, b);  // same kind + key while pending: one task
  auto c = json::parse(m.create_task(task("k2", "dedup-1").dump()))["id"].get<int64_t>();
  EXPECT_NE(a, c);  // key is per kind
  auto d = json::parse(m.create_task(task("k1").dump()))["id"].get<int64_t>();
  auto e = json::parse(m.create_task(task("k1").dump()))["id"].get<int64_t>();
  EXPECT_NE(d, e);  // empty key: no dedup
  auto got = json::parse(m.get_task(a));
  EXPECT_EQ(got["kind"], "k1");
  EXPECT_EQ(got["input"], "in-k1");
  EXPECT_EQ(got["id"], a);
  m.update_task(a, R"({"status":"F","output":"done","attempt":2})");
  got = json::parse(m.get_task(a));
  EXPECT_EQ(got["status"], "F");
  EXPECT_EQ(got["output"], "done");
  EXPECT_EQ(got["attempt"], 2);
  EXPECT_EQ(got["kind"], "k1");  // untouched fields survive a patch
  // Finished: the key is free again.
  auto f = json::parse(m.create_task(task("k1", "dedup-1").dump()))["id"].get<int64_t>();
  EXPECT_NE(f, a);
  std::set<int64_t> pending;
  for (const auto& t : json::parse(m.list_pending_tasks())) pending.insert(t["id"].get<int64_t>());
  EXPECT_EQ(pending, (std::set<int64_t>{c, d, e, f}));
  m.delete_task(d);
  EXPECT_TRUE(m.get_task(d).empty());
}

TEST_P(MetaConformance, TasksSurviveReopen) {
  if (!meta().has_tasks()) GTEST_SKIP() << "no tasks part";
  if (GetParam().factory.rfind("hello-", 0) == 0) GTEST_SKIP() << "in-memory double";
  auto id = json::parse(meta().create_task(task("persist", "p").dump()))["id"].get<int64_t>();
  inst_.reset();  // as after a restart (some engines allow one open per directory)
  MetaHandle again(reopen());
  EXPECT_EQ(json::parse(again.get_task(id))["kind"], "persist");
  auto next = json::parse(again.create_task(task("persist2").dump()))["id"].get<int64_t>();
  EXPECT_GT(next, id);  // ids never reused after a restart
}

TEST_P(MetaConformance, ConcurrentTaskCreationGivesUniqueIds) {
  if (!meta().has_tasks()) GTEST_SKIP() << "no tasks part";
  auto m = meta();
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int64_t> ids;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto id = json::parse(m.create_task(task("c" + std::to_string(t)).dump()))["id"].get<int64_t>();
        std::lock_guard lk(mu);
        ids.insert(id);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ids.size(), 200u);
}

TEST_P(MetaConformance, BadInputIsInvalidNotCrash) {
  auto m = meta();
  if (m.has_tasks()) {
    EXPECT_EQ(code_of([&] { m.create_task("{not json"); }), CM_INVALID);
    EXPECT_EQ(code_of([&] { m.update_task(123456789, R"({"status":"F"})"); }), CM_NOT_FOUND);
  }
  if (m.has_settings()) {
    EXPECT_EQ(code_of([&] { m.put_setting(kA, "k", "{not json"); }), CM_INVALID);
  }
  if (m.has_records()) {
    EXPECT_EQ(code_of([&] { m.put_record(kA, "c", "", "{}"); }), CM_INVALID);
  }
}

INSTANTIATE_TEST_SUITE_P(Meta, MetaConformance, ::testing::ValuesIn(adapters_of(CM_KIND_META)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(MetaConformance);

}  // namespace
}  // namespace cumulo::conformance
