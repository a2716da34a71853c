// Rtdb adapter conformance (shapes: adapters-builtin/rtdb-lmdb/README.md):
// documents, merge updates, generated ids, all-or-nothing transactions,
// filters, sort + cursor paging, change feed, persistence, isolation.
// rtdb-lmdb runs twice, with and without indexes: identical results.
#include <nlohmann/json.hpp>
#include <thread>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using json = nlohmann::json;
using plugins::PluginError;
using plugins::RtdbHandle;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};
const std::string kDb = "f1~database";


class RtdbConformance : public AdapterFixture {
 protected:
  RtdbHandle rtdb() const { return RtdbHandle(inst_); }
  json tx(const json& ops, const TenantRef& tn = kA) const { return json::parse(rtdb().transact(tn, kDb, ops.dump())); }
  json get(const std::string& path, const TenantRef& tn = kA) const { return json::parse(rtdb().get(tn, kDb, path)); }
  json query(const std::string& coll, const json& q, const TenantRef& tn = kA) const { return json::parse(rtdb().query(tn, kDb, coll, q.dump())); }
  std::vector<std::string> ids(const json& result) const {
    std::vector<std::string> out;
    for (const auto& d : result["docs"]) out.push_back(d["id"]);
    return out;
  }
  void seed(int n) const {
    json ops = json::array();
    for (int i = 0; i < n; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "d%04d", i);
      ops.push_back({{"op", "set"},
                     {"path", std::string("items/") + id},
                     {"value", {{"n", i % 10}, {"i", i}, {"name", "item " + std::to_string(i)}, {"tags", json::array({i % 2 ? "odd" : "even", "all"})}, {"nested", {{"x", i % 3}}}}}});
    }
    tx(ops);
  }
};

TEST_P(RtdbConformance, SetGetUpdateDelete) {
  tx(json::array({{{"op", "set"}, {"path", "posts/p1"}, {"value", {{"title", "hi"}, {"n", 1}, {"drop", true}}}}}));
  EXPECT_EQ(get("posts/p1"), (json{{"title", "hi"}, {"n", 1}, {"drop", true}}));
  tx(json::array({{{"op", "update"}, {"path", "posts/p1"}, {"value", {{"n", 2}, {"drop", nullptr}}}}}));
  EXPECT_EQ(get("posts/p1"), (json{{"title", "hi"}, {"n", 2}}));
  tx(json::array({{{"op", "delete"}, {"path", "posts/p1"}}}));
  EXPECT_EQ(code_of([&] { get("posts/p1"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "update"}, {"path", "posts/p1"}, {"value", {{"n", 3}}}}})); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "delete"}, {"path", "posts/p1"}}})); }), CM_NOT_FOUND);
}

TEST_P(RtdbConformance, CreateGeneratesDistinctIds) {
  auto r = tx(json::array({{{"op", "create"}, {"path", "posts"}, {"value", {{"k", 1}}}}, {{"op", "create"}, {"path", "posts"}, {"value", {{"k", 2}}}}}));
  ASSERT_EQ(r.size(), 2u);
  std::string a = r[0]["id"], b = r[1]["id"];
  EXPECT_NE(a, b);
  EXPECT_EQ(get("posts/" + a)["k"], 1);
  EXPECT_EQ(get("posts/" + b)["k"], 2);
}

TEST_P(RtdbConformance, TransactionsAreAllOrNothing) {
  auto bad = json::array({{{"op", "set"}, {"path", "t/a"}, {"value", {{"v", 1}}}},
                          {{"op", "set"}, {"path", "t/b"}, {"value", {{"v", 2}}}},
                          {{"op", "update"}, {"path", "t/missing"}, {"value", {{"v", 3}}}}});
  EXPECT_EQ(code_of([&] { tx(bad); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get("t/a"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get("t/b"); }), CM_NOT_FOUND);
  EXPECT_TRUE(query("t", json::object())["docs"].empty());
}

TEST_P(RtdbConformance, FilterOperators) {
  seed(60);
  auto count = [&](const json& filter) { return query("items", {{"filter", filter}, {"limit", 1000}})["docs"].size(); };
  EXPECT_EQ(count({{"n", 3}}), 6u);
  EXPECT_EQ(count({{"n", {{"$eq", 3}}}}), 6u);
  EXPECT_EQ(count({{"n", {{"$ne", 3}}}}), 54u);
  EXPECT_EQ(count({{"n", {{"$gt", 7}}}}), 12u);
  EXPECT_EQ(count({{"n", {{"$gte", 7}}}}), 18u);
  EXPECT_EQ(count({{"n", {{"$lt", 2}}}}), 12u);
  EXPECT_EQ(count({{"n", {{"$lte", 2}}}}), 18u);
  EXPECT_EQ(count({{"n", {{"$gte", 2}, {"$lt", 4}}}}), 12u);
  EXPECT_EQ(count({{"n", {{"$in", {1, 2, 3}}}}}), 18u);
  EXPECT_EQ(count({{"tags", {{"$contains", "odd"}}}}), 30u);
  EXPECT_EQ(count({{"name", {{"$contains", "item 5"}}}}), 11u);  // 5, 50..59
  EXPECT_EQ(count({{"nested.x", 0}}), 20u);
  EXPECT_EQ(count({{"n", 3}, {"tags", {{"$contains", "odd"}}}}), 6u);
  EXPECT_EQ(count({{"missing", nullptr}}), 60u);
  EXPECT_EQ(count({{"n", "3"}}), 0u);  // types are compared strictly
  EXPECT_EQ(code_of([&] { count({{"n", {{"$regex", "x"}}}}); }), CM_INVALID);
}

TEST_P(RtdbConformance, SortLimitAndCursorPaging) {
  seed(1000);
  std::vector<std::string> seen;
  json q = {{"sort", {{{"field", "n"}, {"dir", "desc"}}}}, {"limit", 37}};
  for (int page = 0; page < 100; ++page) {
    auto r = query("items", q);
    for (const auto& d : r["docs"]) seen.push_back(d["id"]);
    if (r["cursor"].is_null()) break;
    q["cursor"] = r["cursor"];
  }
  ASSERT_EQ(seen.size(), 1000u);  // no gap
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), 1000u);  // no duplicate
  // Order: n descending, then id ascending.
  for (size_t i = 1; i < seen.size(); ++i) {
    int a = std::stoi(seen[i - 1].substr(1)) % 10, b = std::stoi(seen[i].substr(1)) % 10;
    ASSERT_TRUE(a > b || (a == b && seen[i - 1] < seen[i])) << seen[i - 1] << " then " << seen[i];
  }
  // Filtered + sorted page through the index path as well.
  auto r = query("items", {{"filter", {{"n", 4}}}, {"sort", {{{"field", "i"}}}}, {"limit", 5}});
  EXPECT_EQ(ids(r), (std::vector<std::string>{"d0004", "d0014", "d0024", "d0034", "d0044"}));
  EXPECT_FALSE(r["cursor"].is_null());
}

TEST_P(RtdbConformance, QueriesReturnDirectChildrenOnly) {
  tx(json::array({{{"op", "set"}, {"path", "items/a"}, {"value", {{"n", 1}}}},
                  {{"op", "set"}, {"path", "items/a/comments/c1"}, {"value", {{"n", 1}}}},
                  {{"op", "set"}, {"path", "itemsX/b"}, {"value", {{"n", 1}}}}}));
  EXPECT_EQ(ids(query("items", {{"filter", {{"n", 1}}}})), std::vector<std::string>{"a"});
  EXPECT_EQ(ids(query("items/a/comments", json::object())), std::vector<std::string>{"c1"});
}

TEST_P(RtdbConformance, ChangeFeedInCommitOrder) {
  const auto& vt = inst_->factory().vt.rtdb;
  if (!vt.subscribe) GTEST_SKIP() << "no change feed";
  struct Box {
    std::mutex mu;
    std::vector<json> got;
  } box;
  auto cb = [](void* ctx, cm_str change) {
    auto* b = static_cast<Box*>(ctx);
    std::lock_guard lk(b->mu);
    b->got.push_back(json::parse(std::string_view(change.data, change.size)));
  };
  auto ct = kA.c();
  cm_error err = plugins::new_error();
  uint64_t sub = 0;
  ASSERT_EQ(vt.subscribe(inst_->self(), &ct, plugins::to_cm(kDb), plugins::to_cm("items/"), cb, &box, &sub, &err), CM_OK);
  tx(json::array({{{"op", "set"}, {"path", "items/a"}, {"value", {{"v", 1}}}}, {{"op", "set"}, {"path", "other/x"}, {"value", {{"v", 9}}}}}));
  tx(json::array({{{"op", "update"}, {"path", "items/a"}, {"value", {{"w", 2}}}}}));
  tx(json::array({{{"op", "delete"}, {"path", "items/a"}}}));
  tx(json::array({{{"op", "set"}, {"path", "items/b"}, {"value", {{"v", 1}}}}}), kB);  // other tenant: not delivered
  {
    std::lock_guard lk(box.mu);
    ASSERT_EQ(box.got.size(), 3u);
    EXPECT_EQ(box.got[0], (json{{"op", "set"}, {"path", "items/a"}, {"value", {{"v", 1}}}}));
    EXPECT_EQ(box.got[1], (json{{"op", "update"}, {"path", "items/a"}, {"value", {{"v", 1}, {"w", 2}}}}));
    EXPECT_EQ(box.got[2], (json{{"op", "delete"}, {"path", "items/a"}}));
  }
  vt.unsubscribe(inst_->self(), sub);
  tx(json::array({{{"op", "set"}, {"path", "items/c"}, {"value", {{"v", 1}}}}}));
  std::lock_guard lk(box.mu);
  EXPECT_EQ(box.got.size(), 3u);
}

TEST_P(RtdbConformance, PersistsAcrossReopen) {
  tx(json::array({{{"op", "set"}, {"path", "keep/me"}, {"value", {{"v", "persisted"}}}}}));
  inst_.reset();  // LMDB: one open environment per directory and process
  RtdbHandle again(reopen());
  EXPECT_EQ(json::parse(again.get(kA, kDb, "keep/me"))["v"], "persisted");
}

TEST_P(RtdbConformance, TenantAndDatabaseIsolation) {
  tx(json::array({{{"op", "set"}, {"path", "s/doc"}, {"value", {{"owner", "alice"}}}}}));
  EXPECT_EQ(code_of([&] { get("s/doc", kB); }), CM_NOT_FOUND);
  EXPECT_TRUE(query("s", json::object(), kB)["docs"].empty());
  EXPECT_EQ(code_of([&] { rtdb().get(kA, "f1~another-db", "s/doc"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "delete"}, {"path", "s/doc"}}}), kB); }), CM_NOT_FOUND);
  EXPECT_EQ(get("s/doc")["owner"], "alice");
}

TEST_P(RtdbConformance, UnicodeAndLargeDocuments) {
  std::string big(4 << 20, 'x');
  tx(json::array({{{"op", "set"}, {"path", "dokumentumok/ünïcödé ✓"}, {"value", {{"név", "Árvíztűrő tükörfúrógép"}, {"big", big}}}}}));
  auto d = get("dokumentumok/ünïcödé ✓");
  EXPECT_EQ(d["név"], "Árvíztűrő tükörfúrógép");
  EXPECT_EQ(d["big"].get<std::string>().size(), big.size());
}

TEST_P(RtdbConformance, BadInputIsInvalid) {
  auto r = rtdb();
  EXPECT_EQ(code_of([&] { r.transact(kA, kDb, "{not json"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { r.transact(kA, kDb, R"({"op":"set"})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "frobnicate"}, {"path", "a/b"}}})); }), CM_INVALID);
  for (const std::string& path : std::vector<std::string>{"", "a", "a//b", "/a/b", "a/b/", std::string(400, 'p') + "/x"})
    EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "set"}, {"path", path}, {"value", json::object()}}})); }), CM_INVALID) << path;
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "set"}, {"path", "a/b"}, {"value", 5}}})); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "create"}, {"path", "a/b"}, {"value", json::object()}}})); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { r.query(kA, kDb, "a/b", "{}"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { r.query(kA, kDb, "a", "[1]"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { r.get(kA, "", "a/b"); }), CM_INVALID);
}

TEST_P(RtdbConformance, ConcurrentWriters) {
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        try {
          tx(json::array({{{"op", "set"}, {"path", "c/t" + std::to_string(t) + "-" + std::to_string(i)}, {"value", {{"t", t}}}}}));
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(query("c", {{"limit", 1000}})["docs"].size(), 200u);
  EXPECT_EQ(query("c", {{"filter", {{"t", 3}}}, {"limit", 1000}})["docs"].size(), 25u);
}

INSTANTIATE_TEST_SUITE_P(Rtdb, RtdbConformance, ::testing::ValuesIn(adapters_of(CM_KIND_RTDB)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RtdbConformance);

}  // namespace
}  // namespace cumulo::conformance
