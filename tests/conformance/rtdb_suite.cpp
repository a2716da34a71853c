// Rtdb adapter conformance: every rtdb adapter (built-in, the in-memory
// double, a third party's through cumulo-adapter-test) must pass this file.
//
// The interface, as tested here (also adapters-builtin/rtdb-lmdb/README.md and docs/sdk.md §6.4):
//
// get(db, "coll/doc")             → the document's JSON object; CM_NOT_FOUND if absent.
// transact(db, ops)               → one result per op, all or nothing:
//   [{"op":"set",    "path":"coll/doc", "value":{…}}       replace or create       → null
//    {"op":"update", "path":"coll/doc", "value":{…}}       RFC 7386 merge (null
//                                                          removes); missing doc → CM_NOT_FOUND → null
//    {"op":"delete", "path":"coll/doc"}                    missing doc → CM_NOT_FOUND → null
//    {"op":"create", "path":"coll",     "value":{…}}]      new random id            → {"id":"…"}
//   Later ops see earlier ops of the same batch. Any failure leaves no trace.
// query(db, "coll", q)            → {"docs":[{"id":"…","data":{…}}…], "cursor":"…"|null}
//   q = {"filter": {field: value | {op: arg, …}, …},        all conditions ANDed
//        "sort":   [{"field":"f","dir":"asc"|"desc"}, …],   ("ascending": bool also accepted)
//        "limit":  N ≥ 1 (absent: all), "offset": N ≥ 0, "cursor": "…" (from the previous page)}
//   Fields may be dotted ("a.b" reads nested objects). ops, with the RTDB wire's
//   spelling (realtime.md §2.2) accepted as an alias:
//     $eq equals · $ne notEquals (missing passes) · $gt greaterThan · $gte greaterThanOrEqual ·
//     $lt lessThan · $lte lessThanOrEqual (missing fails; only values of the argument's type
//     match) · $in inArray · $nin notInArray (missing passes) · $contains (array element or
//     substring) · arrayContains (array element) · contains (substring) ·
//     $containsAny arrayContainsAny · $containsAll arrayContainsAll.
//   A plain value means $eq (field present and deep-equal; missing ≠ null). An object
//   is an operator object when all its keys are operators; any unknown "$" key → CM_INVALID.
//   Order: the sort fields, then the document id (byte order): total, so paging is exact.
//   Values order: missing < null < false < true < numbers < strings < arrays/objects.
//   Only direct children of the collection are returned. The cursor is opaque and
//   continues exactly after the last document returned; null when nothing follows.
// subscribe(db, prefix, fn, ctx)  (optional) fn gets {"op":"set|update|delete|create",
//   "path":"coll/doc", "value"?: the document after the write} for every committed change
//   under the prefix ("items" covers "items" and "items/…", never "itemsX"; "" or a prefix
//   ending in "/" is a plain string prefix), after commit, in commit order.
//   unsubscribe returns only once no callback of that subscription runs or will run.
// Names: database ids and path segments are 1-1024 bytes of UTF-8 without NUL; paths
//   ≤ 4096 bytes, no empty segment. Violations and malformed JSON → CM_INVALID with a message.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <set>
#include <thread>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using plugins::PluginError;
using plugins::RtdbHandle;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};
const std::string kDb = "f1~database";

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const PluginError& e) {
    return e.what();
  }
  return "";
}

// Collects change events; tests wait on it with deadlines, never by sleeping.
struct Feed {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> got;
  static void on_change(void* ctx, cm_str change) {
    auto* f = static_cast<Feed*>(ctx);
    json ev = json::parse(std::string_view(change.data, change.size));
    std::lock_guard lk(f->mu);
    f->got.push_back(std::move(ev));
    f->cv.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, 20s, [&] { return got.size() >= n; });
  }
  std::vector<json> events() {
    std::lock_guard lk(mu);
    return got;
  }
};

class RtdbConformance : public AdapterFixture {
 protected:
  RtdbHandle rtdb() const { return RtdbHandle(inst_); }
  json tx(const json& ops, const TenantRef& tn = kA, const std::string& db = kDb) const { return json::parse(rtdb().transact(tn, db, ops.dump())); }
  json get(const std::string& path, const TenantRef& tn = kA, const std::string& db = kDb) const { return json::parse(rtdb().get(tn, db, path)); }
  json query(const std::string& coll, const json& q, const TenantRef& tn = kA, const std::string& db = kDb) const {
    return json::parse(rtdb().query(tn, db, coll, q.dump()));
  }
  static std::vector<std::string> ids(const json& result) {
    std::vector<std::string> out;
    for (const auto& d : result["docs"]) out.push_back(d["id"]);
    return out;
  }
  // Every document of a query, following cursors with pages of `limit`.
  std::vector<json> all_pages(RtdbHandle h, const std::string& coll, json q, size_t limit, size_t* pages = nullptr) const {
    std::vector<json> out;
    q["limit"] = limit;
    for (size_t page = 1;; ++page) {
      json r = json::parse(h.query(kA, kDb, coll, q.dump()));
      EXPECT_LE(r["docs"].size(), limit);
      for (auto& d : r["docs"]) out.push_back(d);
      if (pages) *pages = page;
      if (r["cursor"].is_null()) return out;
      EXPECT_EQ(r["docs"].size(), limit) << "a short page must be the last";
      if (page > 10000) {
        ADD_FAILURE() << "paging does not end";
        return out;
      }
      q["cursor"] = r["cursor"];
    }
  }
  static json item(int i) {
    json d = {{"n", i % 10}, {"i", i}, {"name", "item " + std::to_string(i)}, {"nested", {{"x", i % 3}}}};
    d["tags"] = json::array({i % 2 ? "odd" : "even", "all"});
    if (i % 5 == 0) d["tags"].push_back("five");
    if (i % 4 == 0) d["opt"] = (i / 4) % 3;  // missing on 3 of 4 documents
    switch (i % 6) {                         // every type, for cross-type order
      case 0: d["mixed"] = nullptr; break;
      case 1: d["mixed"] = i % 12 == 1; break;
      case 2: d["mixed"] = i % 7; break;
      case 3: d["mixed"] = "s" + std::to_string(i % 5); break;
      case 4: d["mixed"] = json::array({i % 5}); break;
      default: break;  // missing
    }
    return d;
  }
  static std::string item_id(int i) {
    char id[16];
    std::snprintf(id, sizeof id, "d%04d", i);
    return id;
  }
  static void seed(RtdbHandle h, int n, const std::string& coll = "items") {
    for (int from = 0; from < n; from += 500) {
      json ops = json::array();
      for (int i = from; i < std::min(n, from + 500); ++i) ops.push_back({{"op", "set"}, {"path", coll + "/" + item_id(i)}, {"value", item(i)}});
      h.transact(kA, kDb, ops.dump());
    }
  }
  void seed(int n) const { seed(rtdb(), n); }

  bool persistent() const { return GetParam().options_template.find("${DIR}") != std::string::npos; }
  bool takes_indexes() const { return GetParam().options_template.find("\"indexes\"") != std::string::npos; }

  // The change feed is optional: nullopt when the adapter has none.
  std::optional<uint64_t> subscribe(const std::string& prefix, Feed& feed, const TenantRef& tn = kA, const std::string& db = kDb) const {
    const auto& vt = inst_->factory().vt.rtdb;
    if (!vt.subscribe) return std::nullopt;
    auto ct = tn.c();
    cm_error err = plugins::new_error();
    uint64_t id = 0;
    int32_t st = vt.subscribe(inst_->self(), &ct, plugins::to_cm(db), plugins::to_cm(prefix), &Feed::on_change, &feed, &id, &err);
    if (st == CM_UNSUPPORTED) return std::nullopt;
    plugins::check(st, err, "rtdb subscribe");
    return id;
  }
  void unsubscribe(uint64_t id) const { inst_->factory().vt.rtdb.unsubscribe(inst_->self(), id); }

  // Another instance of the same factory with other options (indexed vs scan runs).
  std::shared_ptr<plugins::Instance> create_like(const std::string& options) const {
    const plugins::Factory& f = inst_->factory();
    void* self = nullptr;
    cm_error err = plugins::new_error();
    plugins::check(f.f.create(plugins::to_cm(options), &self, &err), err, "create");
    return std::make_shared<plugins::Instance>(std::shared_ptr<const plugins::Factory>(inst_, &f), self);
  }
  // The parameter's options for directory `dir`, optionally without "indexes".
  json options_for(const fs::path& dir, bool with_indexes) const {
    std::string t = GetParam().options_template;
    for (size_t p = t.find("${DIR}"); p != std::string::npos; p = t.find("${DIR}", p)) t.replace(p, 6, dir.string());
    json o = json::parse(t);
    if (!with_indexes) o.erase("indexes");
    return o;
  }
};

#define REQUIRE_FEED(sub) \
  if (!(sub)) GTEST_SKIP() << "no change feed (optional in the interface)"

// ---- documents and transactions --------------------------------------------------

TEST_P(RtdbConformance, SetGetUpdateDelete) {
  EXPECT_EQ(tx(json::array({{{"op", "set"}, {"path", "posts/p1"}, {"value", {{"title", "hi"}, {"n", 1}, {"drop", true}}}}})), json::array({nullptr}));
  EXPECT_EQ(get("posts/p1"), (json{{"title", "hi"}, {"n", 1}, {"drop", true}}));
  tx(json::array({{{"op", "update"}, {"path", "posts/p1"}, {"value", {{"n", 2}, {"drop", nullptr}}}}}));
  EXPECT_EQ(get("posts/p1"), (json{{"title", "hi"}, {"n", 2}}));
  tx(json::array({{{"op", "set"}, {"path", "posts/p1"}, {"value", {{"only", "this"}}}}}));  // set replaces
  EXPECT_EQ(get("posts/p1"), (json{{"only", "this"}}));
  tx(json::array({{{"op", "delete"}, {"path", "posts/p1"}}}));
  EXPECT_EQ(code_of([&] { get("posts/p1"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "update"}, {"path", "posts/p1"}, {"value", {{"n", 3}}}}})); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "delete"}, {"path", "posts/p1"}}})); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get("never/there"); }), CM_NOT_FOUND);
  EXPECT_EQ(tx(json::array()), json::array());
}

TEST_P(RtdbConformance, UpdateIsAMergePatch) {
  tx(json::array({{{"op", "set"}, {"path", "m/d"}, {"value", {{"a", {{"x", 1}, {"y", 2}}}, {"list", {1, 2}}, {"keep", "k"}}}}}));
  tx(json::array({{{"op", "update"}, {"path", "m/d"}, {"value", {{"a", {{"y", nullptr}, {"z", 3}}}, {"list", {9}}}}}}));
  EXPECT_EQ(get("m/d"), (json{{"a", {{"x", 1}, {"z", 3}}}, {"list", {9}}, {"keep", "k"}}));
}

TEST_P(RtdbConformance, EmptyDocuments) {
  tx(json::array({{{"op", "set"}, {"path", "e/empty"}, {"value", json::object()}}}));
  EXPECT_EQ(get("e/empty"), json::object());
  auto r = query("e", json::object());
  ASSERT_EQ(r["docs"].size(), 1u);
  EXPECT_EQ(r["docs"][0], (json{{"id", "empty"}, {"data", json::object()}}));
  EXPECT_TRUE(r["cursor"].is_null());
  tx(json::array({{{"op", "update"}, {"path", "e/empty"}, {"value", json::object()}}}));
  EXPECT_EQ(get("e/empty"), json::object());
}

TEST_P(RtdbConformance, CreateGeneratesIdsAndResultsFollowOps) {
  auto r = tx(json::array({{{"op", "create"}, {"path", "posts"}, {"value", {{"k", 1}}}},
                           {{"op", "set"}, {"path", "posts/fixed"}, {"value", {{"k", 0}}}},
                           {{"op", "create"}, {"path", "posts"}, {"value", {{"k", 2}}}},
                           {{"op", "create"}, {"path", "posts/fixed/comments"}, {"value", {{"k", 3}}}}}));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_TRUE(r[1].is_null());
  std::set<std::string> seen;
  for (size_t i : {0u, 2u, 3u}) {
    ASSERT_TRUE(r[i].is_object() && r[i]["id"].is_string()) << r.dump();
    std::string id = r[i]["id"];
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(id.find('/'), std::string::npos);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(get("posts/" + r[0]["id"].get<std::string>())["k"], 1);
  EXPECT_EQ(get("posts/" + r[2]["id"].get<std::string>())["k"], 2);
  EXPECT_EQ(get("posts/fixed/comments/" + r[3]["id"].get<std::string>())["k"], 3);
  EXPECT_EQ(query("posts", json::object())["docs"].size(), 3u);
}

TEST_P(RtdbConformance, TransactionsAreAllOrNothing) {
  tx(json::array({{{"op", "set"}, {"path", "t/keep"}, {"value", {{"v", 0}}}}}));
  const json failing_middle = json::array({{{"op", "set"}, {"path", "t/a"}, {"value", {{"v", 1}}}},
                                           {{"op", "update"}, {"path", "t/keep"}, {"value", {{"v", 1}}}},
                                           {{"op", "update"}, {"path", "t/missing"}, {"value", {{"v", 3}}}},
                                           {{"op", "set"}, {"path", "t/b"}, {"value", {{"v", 2}}}}});
  EXPECT_EQ(code_of([&] { tx(failing_middle); }), CM_NOT_FOUND);
  const json invalid_middle = json::array({{{"op", "create"}, {"path", "t"}, {"value", {{"v", 1}}}},
                                           {{"op", "delete"}, {"path", "t/keep"}},
                                           {{"op", "set"}, {"path", "t//x"}, {"value", {{"v", 1}}}},
                                           {{"op", "set"}, {"path", "t/c"}, {"value", {{"v", 2}}}}});
  EXPECT_EQ(code_of([&] { tx(invalid_middle); }), CM_INVALID);
  const json bad_value_last = json::array({{{"op", "delete"}, {"path", "t/keep"}}, {{"op", "set"}, {"path", "t/d"}, {"value", "not an object"}}});
  EXPECT_EQ(code_of([&] { tx(bad_value_last); }), CM_INVALID);
  EXPECT_EQ(get("t/keep"), (json{{"v", 0}}));
  for (const char* p : {"t/a", "t/b", "t/c", "t/d"}) EXPECT_EQ(code_of([&] { get(p); }), CM_NOT_FOUND) << p;
  EXPECT_EQ(ids(query("t", json::object())), std::vector<std::string>{"keep"});
}

TEST_P(RtdbConformance, LaterOpsSeeEarlierOpsOfTheBatch) {
  tx(json::array({{{"op", "set"}, {"path", "x/a"}, {"value", {{"v", 1}}}},
                  {{"op", "update"}, {"path", "x/a"}, {"value", {{"w", 2}}}},
                  {{"op", "set"}, {"path", "x/b"}, {"value", {{"v", 1}}}},
                  {{"op", "delete"}, {"path", "x/b"}}}));
  EXPECT_EQ(get("x/a"), (json{{"v", 1}, {"w", 2}}));
  EXPECT_EQ(code_of([&] { get("x/b"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "delete"}, {"path", "x/a"}}, {{"op", "update"}, {"path", "x/a"}, {"value", {{"v", 9}}}}})); }), CM_NOT_FOUND);
  EXPECT_EQ(get("x/a"), (json{{"v", 1}, {"w", 2}}));  // and that batch left nothing behind
}

// ---- queries ----------------------------------------------------------------------

TEST_P(RtdbConformance, FilterOperatorsInBothSpellings) {
  seed(60);
  auto count = [&](const json& filter) { return query("items", {{"filter", filter}})["docs"].size(); };
  auto both = [&](const std::string& dollar, const std::string& wire, const std::string& field, const json& arg, size_t want) {
    EXPECT_EQ(count({{field, {{dollar, arg}}}}), want) << dollar << " " << arg;
    EXPECT_EQ(count({{field, {{wire, arg}}}}), want) << wire << " " << arg;
  };
  EXPECT_EQ(count({{"n", 3}}), 6u);
  both("$eq", "equals", "n", 3, 6);
  both("$ne", "notEquals", "n", 3, 54);
  both("$gt", "greaterThan", "n", 7, 12);
  both("$gte", "greaterThanOrEqual", "n", 7, 18);
  both("$lt", "lessThan", "n", 2, 12);
  both("$lte", "lessThanOrEqual", "n", 2, 18);
  both("$in", "inArray", "n", {1, 2, 3}, 18);
  both("$nin", "notInArray", "n", {1, 2, 3}, 42);
  both("$containsAny", "arrayContainsAny", "tags", {"odd", "five"}, 36);  // 30 odd + 6 even multiples of 5
  both("$containsAll", "arrayContainsAll", "tags", {"odd", "five"}, 6);
  EXPECT_EQ(count({{"n", {{"$gte", 2}, {"$lt", 4}}}}), 12u);
  EXPECT_EQ(count({{"n", {{"greaterThanOrEqual", 2}, {"lessThan", 4}}}}), 12u);
  EXPECT_EQ(count({{"name", {{"$gt", "item 5"}}}}), 14u);  // "item 50".."item 59", "item 6".."item 9"
  EXPECT_EQ(count({{"tags", {{"$contains", "odd"}}}}), 30u);
  EXPECT_EQ(count({{"tags", {{"arrayContains", "five"}}}}), 12u);
  EXPECT_EQ(count({{"name", {{"$contains", "item 5"}}}}), 11u);  // 5, 50..59
  EXPECT_EQ(count({{"name", {{"contains", "m 1"}}}}), 11u);      // 1, 10..19
  EXPECT_EQ(count({{"name", {{"arrayContains", "item 1"}}}}), 0u);
  EXPECT_EQ(count({{"tags", {{"contains", "odd"}}}}), 0u);
  EXPECT_EQ(count({{"nested.x", 0}}), 20u);
  EXPECT_EQ(count({{"nested", {{"x", 1}}}}), 20u);  // a plain object is a value
  EXPECT_EQ(count({{"n", 3}, {"tags", {{"$contains", "odd"}}}}), 6u);
  EXPECT_EQ(count({{"n", 3}, {"i", {{"$gt", 30}}}}), 3u);
  EXPECT_EQ(count(json::object()), 60u);
}

TEST_P(RtdbConformance, FilterMissingFieldsAndTypes) {
  seed(60);
  auto count = [&](const json& filter) { return query("items", {{"filter", filter}})["docs"].size(); };
  EXPECT_EQ(count({{"opt", {{"$ne", 0}}}}), 55u);   // 45 missing + 10 present and != 0
  EXPECT_EQ(count({{"opt", {{"$nin", {0, 1}}}}}), 50u);
  EXPECT_EQ(count({{"opt", {{"$lt", 100}}}}), 15u);  // missing never compares
  EXPECT_EQ(count({{"opt", {{"$gte", 0}}}}), 15u);
  EXPECT_EQ(count({{"missing", nullptr}}), 0u);      // missing is not null
  EXPECT_EQ(count({{"mixed", nullptr}}), 10u);
  EXPECT_EQ(count({{"mixed", {{"$ne", nullptr}}}}), 50u);
  EXPECT_EQ(count({{"mixed", {{"$gte", 0}}}}), 10u);  // only numbers compare with a number
  EXPECT_EQ(count({{"mixed", {{"$gt", ""}}}}), 10u);  // only strings with a string
  EXPECT_EQ(count({{"mixed", {{"$gte", false}}}}), 10u);
  EXPECT_EQ(count({{"mixed", {{"$gt", false}}}}), 5u);  // true
  EXPECT_EQ(count({{"mixed", json::array({1})}}), 2u);  // deep equality on arrays: i = 16, 46
  EXPECT_EQ(count({{"mixed", {{"$in", {nullptr, true}}}}}), 15u);
  EXPECT_EQ(count({{"n", "3"}}), 0u);  // types are compared strictly
  EXPECT_EQ(count({{"n", 3.0}}), 6u);  // numbers by value
  EXPECT_EQ(count({{"n", {{"$gt", 8.5}}}}), 6u);
}

TEST_P(RtdbConformance, SortOrderAcrossTypes) {
  const json docs = {{"a", {{"v", "b"}}}, {"b", {{"v", 2.5}}}, {"c", {{"v", true}}}, {"d", json::object()},        {"e", {{"v", nullptr}}},
                     {"f", {{"v", -1}}},  {"g", {{"v", "a"}}}, {"h", {{"v", false}}}, {"i", {{"v", json::array()}}}, {"j", {{"v", 10}}}};
  json ops = json::array();
  for (auto& [id, d] : docs.items()) ops.push_back({{"op", "set"}, {"path", "s/" + id}, {"value", d}});
  tx(ops);
  // missing < null < false < true < numbers < strings < arrays/objects; ties by id
  const std::vector<std::string> asc = {"d", "e", "h", "c", "f", "b", "j", "g", "a", "i"};
  EXPECT_EQ(ids(query("s", {{"sort", {{{"field", "v"}}}}})), asc);
  EXPECT_EQ(ids(query("s", {{"sort", {{{"field", "v"}, {"dir", "asc"}}}}})), asc);
  EXPECT_EQ(ids(query("s", {{"sort", {{{"field", "v"}, {"ascending", true}}}}})), asc);
  std::vector<std::string> desc(asc.rbegin(), asc.rend());
  EXPECT_EQ(ids(query("s", {{"sort", {{{"field", "v"}, {"dir", "desc"}}}}})), desc);
  EXPECT_EQ(ids(query("s", {{"sort", {{{"field", "v"}, {"ascending", false}}}}})), desc);
  EXPECT_EQ(ids(query("s", json::object())), (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}));
}

TEST_P(RtdbConformance, SortLimitAndCursorPagingOver1000Docs) {
  seed(1000);
  const auto h = rtdb();
  auto n_of = [](const json& d) { return d["data"]["n"].get<int>(); };
  struct Case {
    json q;
    size_t limit;
  };
  const std::vector<Case> cases = {
      {json::object(), 100},
      {{{"sort", {{{"field", "n"}, {"dir", "desc"}}}}}, 37},
      {{{"sort", {{{"field", "n"}}, {{"field", "i"}, {"dir", "desc"}}}}}, 64},
      {{{"sort", {{{"field", "mixed"}}}}}, 50},
      {{{"sort", {{{"field", "opt"}, {"dir", "desc"}}, {{"field", "name"}}}}}, 33},
      {{{"sort", {{{"field", "nested.x"}}}}, {"filter", {{"n", {{"$in", {1, 3}}}}}}}, 7},
      {{{"sort", {{{"field", "name"}}}}, {"filter", {{"i", {{"$gte", 100}, {"$lt", 900}}}}}}, 99},
      {{{"sort", {{{"field", "i"}, {"dir", "desc"}}}}}, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.q.dump() + " limit " + std::to_string(c.limit));
    json whole = c.q;
    auto all = query("items", whole)["docs"];
    size_t pages = 0;
    auto paged = all_pages(h, "items", c.q, c.limit, &pages);
    ASSERT_EQ(json(paged), all);  // no gap, no duplicate, same order
    EXPECT_EQ(pages, std::max<size_t>(1, (all.size() + c.limit - 1) / c.limit));
    std::set<std::string> unique;
    for (auto& d : paged) unique.insert(d["id"].get<std::string>());
    EXPECT_EQ(unique.size(), paged.size());
  }
  // The orders themselves.
  auto all = all_pages(h, "items", {{"sort", {{{"field", "n"}, {"dir", "desc"}}}}}, 37);
  ASSERT_EQ(all.size(), 1000u);
  for (size_t i = 1; i < all.size(); ++i)
    ASSERT_TRUE(n_of(all[i - 1]) > n_of(all[i]) || (n_of(all[i - 1]) == n_of(all[i]) && all[i - 1]["id"] < all[i]["id"])) << all[i - 1]["id"] << " then " << all[i]["id"];
  all = all_pages(h, "items", {{"sort", {{{"field", "n"}}, {{"field", "i"}, {"dir", "desc"}}}}}, 64);
  for (size_t i = 1; i < all.size(); ++i)
    ASSERT_TRUE(n_of(all[i - 1]) < n_of(all[i]) || (n_of(all[i - 1]) == n_of(all[i]) && all[i - 1]["data"]["i"] > all[i]["data"]["i"]));
  EXPECT_EQ(ids(query("items", {{"filter", {{"n", 4}}}, {"sort", {{{"field", "i"}}}}, {"limit", 5}})),
            (std::vector<std::string>{"d0004", "d0014", "d0024", "d0034", "d0044"}));
  auto first = query("items", {{"limit", 3}});
  EXPECT_EQ(ids(first), (std::vector<std::string>{"d0000", "d0001", "d0002"}));
  EXPECT_TRUE(first["cursor"].is_string());
  EXPECT_TRUE(query("items", {{"limit", 1000}})["cursor"].is_null());  // nothing follows
  EXPECT_TRUE(query("items", {{"limit", 5000}})["cursor"].is_null());
}

TEST_P(RtdbConformance, OffsetSkipsAfterTheCursor) {
  seed(30);
  EXPECT_EQ(ids(query("items", {{"offset", 27}})), (std::vector<std::string>{"d0027", "d0028", "d0029"}));
  EXPECT_TRUE(query("items", {{"offset", 40}})["docs"].empty());
  auto p1 = query("items", {{"sort", {{{"field", "i"}, {"dir", "desc"}}}}, {"limit", 2}, {"offset", 3}});
  EXPECT_EQ(ids(p1), (std::vector<std::string>{"d0026", "d0025"}));
  auto p2 = query("items", {{"sort", {{{"field", "i"}, {"dir", "desc"}}}}, {"limit", 2}, {"offset", 1}, {"cursor", p1["cursor"]}});
  EXPECT_EQ(ids(p2), (std::vector<std::string>{"d0023", "d0022"}));
}

TEST_P(RtdbConformance, CursorContinuesExactlyAfterTheLastDocument) {
  seed(100);
  const json q = {{"sort", {{{"field", "n"}}}}, {"limit", 10}};
  auto before = query("items", {{"sort", {{{"field", "n"}}}}})["docs"];
  auto p1 = query("items", q);
  ASSERT_EQ(ids(p1).back(), "d0090");  // n = 0: d0000 … d0090
  // The last returned document goes away and a new one sorts before the cursor: neither matters.
  tx(json::array({{{"op", "delete"}, {"path", "items/d0090"}}, {{"op", "set"}, {"path", "items/a-new"}, {"value", {{"n", 0}}}}}));
  json q2 = q;
  q2["cursor"] = p1["cursor"];
  auto p2 = query("items", q2);
  std::vector<std::string> want;
  for (size_t i = 10; i < 20; ++i) want.push_back(before[i]["id"]);
  EXPECT_EQ(ids(p2), want);
  // A cursor is bound to its query's sort.
  json other = {{"sort", {{{"field", "n"}}, {{"field", "i"}}}}, {"cursor", p1["cursor"]}};
  EXPECT_EQ(code_of([&] { query("items", other); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { query("items", {{"cursor", "not-a-cursor!"}}); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { query("items", {{"cursor", 42}}); }), CM_INVALID);
}

TEST_P(RtdbConformance, QueriesReturnDirectChildrenOnly) {
  tx(json::array({{{"op", "set"}, {"path", "items/a"}, {"value", {{"n", 1}}}},
                  {{"op", "set"}, {"path", "items/a/comments/c1"}, {"value", {{"n", 1}}}},
                  {{"op", "set"}, {"path", "items/a/comments/c2"}, {"value", {{"n", 2}}}},
                  {{"op", "set"}, {"path", "itemsX/b"}, {"value", {{"n", 1}}}},
                  {{"op", "set"}, {"path", "item/c"}, {"value", {{"n", 1}}}}}));
  EXPECT_EQ(ids(query("items", {{"filter", {{"n", 1}}}})), std::vector<std::string>{"a"});
  EXPECT_EQ(ids(query("items", json::object())), std::vector<std::string>{"a"});
  EXPECT_EQ(ids(query("items/a/comments", {{"sort", {{{"field", "n"}, {"dir", "desc"}}}}})), (std::vector<std::string>{"c2", "c1"}));
  EXPECT_TRUE(query("nothing", json::object())["docs"].empty());
  tx(json::array({{{"op", "delete"}, {"path", "items/a"}}}));  // a document's subcollections are independent
  EXPECT_EQ(query("items/a/comments", json::object())["docs"].size(), 2u);
}

// Same queries, same data, with and without indexes (only for adapters taking "indexes").
TEST_P(RtdbConformance, IndexedAndScanQueriesAgree) {
  if (!takes_indexes()) GTEST_SKIP() << "adapter registered without \"indexes\"";
  const fs::path twin_dir = fs::temp_directory_path() / ("cumulo-conf-scan-" + std::to_string(::getpid()) + "-" + dir_.filename().string());
  fs::create_directories(twin_dir);
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{twin_dir};
  auto twin = std::make_unique<RtdbHandle>(create_like(options_for(twin_dir, false).dump()));
  const auto indexed = rtdb();
  for (auto h : {indexed, *twin}) seed(h, 600);

  const std::vector<json> battery = {
      {{"filter", {{"n", 3}}}},
      {{"filter", {{"n", {{"$in", {2, 3, 9}}}}}}, {"sort", {{{"field", "i"}, {"dir", "desc"}}}}},
      {{"filter", {{"n", {{"$gt", 6}}}}}},
      {{"filter", {{"n", {{"$gte", 2}, {"$lt", 5}}}}}, {"sort", {{{"field", "name"}}}}},
      {{"filter", {{"n", {{"$lte", 1}}}, {"i", {{"$gt", 300}}}}}},
      {{"filter", {{"i", {{"lessThan", 50}}}}}, {"sort", {{{"field", "mixed"}}}}},
      {{"filter", {{"name", {{"$gt", "item 55"}}}}}},
      {{"filter", {{"name", "item 7"}}}},
      {{"filter", {{"mixed", nullptr}}}},
      {{"filter", {{"mixed", {{"$gte", 2}}}}}},
      {{"filter", {{"mixed", json::array({1})}}}},
      {{"filter", {{"opt", {{"$ne", 1}}}}}},
      {{"filter", {{"opt", 2}}}},
      {{"filter", {{"n", "3"}}}},
      {{"filter", {{"n", {{"$gt", "a"}}}}}},
      {{"sort", {{{"field", "n"}}}}},
      {{"sort", {{{"field", "n"}, {"dir", "desc"}}, {{"field", "name"}, {"dir", "desc"}}}}},
      {{"sort", {{{"field", "mixed"}, {"dir", "desc"}}}}},
      {{"sort", {{{"field", "opt"}}}}, {"filter", {{"tags", {{"$contains", "five"}}}}}},
      {{"sort", {{{"field", "i"}}}}, {"filter", {{"n", {{"$ne", 4}}}}}},
      {{"sort", {{{"field", "name"}}}}},
  };
  auto compare_all = [&](const std::string& when) {
    for (const auto& q : battery) {
      ASSERT_TRUE(q.is_object()) << q.dump();
      for (size_t limit : {7u, 1000u}) {
        SCOPED_TRACE(when + ": " + q.dump() + " limit " + std::to_string(limit));
        auto a = all_pages(indexed, "items", q, limit), b = all_pages(*twin, "items", q, limit);
        ASSERT_EQ(json(a), json(b));
      }
    }
  };
  compare_all("after seeding");
  // Both paths are really taken where the adapter reports its plan.
  json explain = {{"filter", {{"n", 3}}}, {"explain", true}};
  auto plan = json::parse(indexed.query(kA, kDb, "items", explain.dump())).value("plan", "");
  if (!plan.empty()) {
    EXPECT_EQ(plan.rfind("index", 0), 0u) << plan;
    EXPECT_EQ(json::parse(twin->query(kA, kDb, "items", explain.dump())).value("plan", ""), "scan");
    explain = {{"sort", {{{"field", "n"}}}}, {"limit", 3}, {"explain", true}};
    EXPECT_EQ(json::parse(indexed.query(kA, kDb, "items", explain.dump())).value("plan", "").rfind("index", 0), 0u);
  }
  // Index entries follow updates and deletes.
  json ops = json::array();
  for (int i = 0; i < 600; i += 7) ops.push_back({{"op", "update"}, {"path", "items/" + item_id(i)}, {"value", {{"n", 100 + i % 4}, {"opt", nullptr}, {"mixed", "u"}}}});
  for (int i = 3; i < 600; i += 11) ops.push_back({{"op", "delete"}, {"path", "items/" + item_id(i)}});
  ops.push_back({{"op", "set"}, {"path", "items/" + item_id(5)}, {"value", {{"n", 3}, {"name", std::string(300, 'z')}}}});
  for (auto h : {indexed, *twin}) h.transact(kA, kDb, ops.dump());
  compare_all("after updates");
  // Index definitions changed while closed: rebuilt on open, same answers.
  twin.reset();
  twin = std::make_unique<RtdbHandle>(create_like(options_for(twin_dir, true).dump()));
  compare_all("after re-indexing");
}

TEST_P(RtdbConformance, LongStringValuesStillSortAndFilterExactly) {
  // Values longer than any key limit (index keys cut them) keep exact semantics.
  const std::string base(600, 'v');
  json ops = json::array();
  for (int i = 0; i < 20; ++i) ops.push_back({{"op", "set"}, {"path", "items/" + item_id(i)}, {"value", {{"name", base + char('a' + (19 - i))}, {"n", i}}}});
  tx(ops);
  auto r = query("items", {{"sort", {{{"field", "name"}}}}, {"limit", 5}});
  EXPECT_EQ(ids(r), (std::vector<std::string>{"d0019", "d0018", "d0017", "d0016", "d0015"}));
  EXPECT_EQ(ids(query("items", {{"filter", {{"name", base + "c"}}}})), std::vector<std::string>{"d0017"});
  EXPECT_EQ(query("items", {{"filter", {{"name", {{"$gt", base + "p"}}}}}})["docs"].size(), 4u);
}

// ---- change feed ------------------------------------------------------------------

TEST_P(RtdbConformance, ChangeFeedDeliversCommittedChangesInOrder) {
  Feed feed, sentinel;
  auto sub = subscribe("items", feed);
  REQUIRE_FEED(sub);
  auto all = subscribe("", sentinel);
  tx(json::array({{{"op", "set"}, {"path", "items/a"}, {"value", {{"v", 1}}}}, {{"op", "set"}, {"path", "other/x"}, {"value", {{"v", 9}}}}}));
  tx(json::array({{{"op", "update"}, {"path", "items/a"}, {"value", {{"w", 2}}}}, {{"op", "set"}, {"path", "itemsX/y"}, {"value", {{"v", 1}}}}}));
  auto created = tx(json::array({{{"op", "create"}, {"path", "items"}, {"value", {{"c", 1}}}}, {{"op", "delete"}, {"path", "items/a"}}}));
  tx(json::array({{{"op", "set"}, {"path", "items/a/sub/s1"}, {"value", {{"deep", true}}}}}));
  tx(json::array({{{"op", "set"}, {"path", "items/b"}, {"value", {{"v", 1}}}}}), kB);                   // other tenant
  tx(json::array({{{"op", "set"}, {"path", "items/b"}, {"value", {{"v", 1}}}}}), kA, "f1~other-db");  // other database
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "set"}, {"path", "items/rolled"}, {"value", json::object()}}, {{"op", "delete"}, {"path", "items/none"}}})); }), CM_NOT_FOUND);
  tx(json::array({{{"op", "set"}, {"path", "items/z"}, {"value", {{"last", true}}}}}));
  ASSERT_TRUE(feed.wait_for(6));
  ASSERT_TRUE(sentinel.wait_for(8));
  const std::string new_id = created[0]["id"];
  const std::vector<json> want = {
      {{"op", "set"}, {"path", "items/a"}, {"value", {{"v", 1}}}},
      {{"op", "update"}, {"path", "items/a"}, {"value", {{"v", 1}, {"w", 2}}}},  // the document after the write
      {{"op", "create"}, {"path", "items/" + new_id}, {"value", {{"c", 1}}}},
      {{"op", "delete"}, {"path", "items/a"}},
      {{"op", "set"}, {"path", "items/a/sub/s1"}, {"value", {{"deep", true}}}},
      {{"op", "set"}, {"path", "items/z"}, {"value", {{"last", true}}}},
  };
  EXPECT_EQ(json(feed.events()), json(want));
  auto everything = sentinel.events();
  ASSERT_EQ(everything.size(), 8u);  // + other/x and itemsX/y; never other tenants, databases or rolled-back batches
  EXPECT_EQ(everything[1]["path"], "other/x");
  EXPECT_EQ(everything[3]["path"], "itemsX/y");
  unsubscribe(*sub);
  if (all) unsubscribe(*all);
}

TEST_P(RtdbConformance, ChangeFeedPrefixes) {
  Feed docs, slash, one, sentinel;
  auto s1 = subscribe("items/", slash);
  REQUIRE_FEED(s1);
  auto s2 = subscribe("items/a", one);
  auto s3 = subscribe("ite", docs);  // plain strings match at "/" boundaries only
  auto s4 = subscribe("", sentinel);
  tx(json::array({{{"op", "set"}, {"path", "items/a"}, {"value", json::object()}},
                  {{"op", "set"}, {"path", "items/ab"}, {"value", json::object()}},
                  {{"op", "set"}, {"path", "items/a/c/d"}, {"value", json::object()}},
                  {{"op", "set"}, {"path", "ite/m"}, {"value", json::object()}}}));
  ASSERT_TRUE(sentinel.wait_for(4));
  ASSERT_TRUE(slash.wait_for(3));
  ASSERT_TRUE(one.wait_for(2));
  ASSERT_TRUE(docs.wait_for(1));
  auto paths = [](Feed& f) {
    std::vector<std::string> out;
    for (auto& e : f.events()) out.push_back(e["path"]);
    return out;
  };
  EXPECT_EQ(paths(slash), (std::vector<std::string>{"items/a", "items/ab", "items/a/c/d"}));
  EXPECT_EQ(paths(one), (std::vector<std::string>{"items/a", "items/a/c/d"}));
  EXPECT_EQ(paths(docs), std::vector<std::string>{"ite/m"});
  for (auto s : {s1, s2, s3, s4}) unsubscribe(*s);
}

TEST_P(RtdbConformance, ChangeFeedFollowsCommitOrderUnderConcurrency) {
  Feed feed;
  auto sub = subscribe("feed", feed);
  REQUIRE_FEED(sub);
  constexpr int kThreads = 4, kEach = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int j = 0; j < kEach; ++j)
        tx(json::array({{{"op", "set"}, {"path", "feed/t" + std::to_string(t)}, {"value", {{"v", j}}}},
                        {{"op", "set"}, {"path", "feed/shared"}, {"value", {{"w", t * 1000 + j}}}}}));
    });
  for (auto& th : threads) th.join();
  ASSERT_TRUE(feed.wait_for(2 * kThreads * kEach));
  auto events = feed.events();
  ASSERT_EQ(events.size(), size_t{2 * kThreads * kEach});
  std::map<std::string, int> last;
  json last_shared;
  for (size_t i = 0; i < events.size(); ++i) {
    const std::string path = events[i]["path"];
    if (path == "feed/shared") {
      last_shared = events[i]["value"];
      ASSERT_EQ(events[i - 1]["path"], "feed/t" + std::to_string(last_shared["w"].get<int>() / 1000)) << "a batch's changes arrive together, in op order";
      continue;
    }
    int v = events[i]["value"]["v"];
    if (last.count(path)) {
      ASSERT_EQ(v, last[path] + 1) << path;
    }
    last[path] = v;
  }
  EXPECT_EQ(get("feed/shared"), last_shared);  // the last event is the last commit
  unsubscribe(*sub);
}

TEST_P(RtdbConformance, UnsubscribeWaitsForARunningCallback) {
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool entered = false, release = false, returned = false;
    std::atomic<int> calls{0};
  } gate;
  auto cb = [](void* ctx, cm_str) {
    auto* g = static_cast<Gate*>(ctx);
    std::unique_lock lk(g->mu);
    g->entered = true;
    g->cv.notify_all();
    g->cv.wait(lk, [&] { return g->release; });
    ++g->calls;
  };
  const auto& vt = inst_->factory().vt.rtdb;
  if (!vt.subscribe) GTEST_SKIP() << "no change feed (optional in the interface)";
  auto ct = kA.c();
  cm_error err = plugins::new_error();
  uint64_t id = 0;
  int32_t st = vt.subscribe(inst_->self(), &ct, plugins::to_cm(kDb), plugins::to_cm("g"), cb, &gate, &id, &err);
  if (st == CM_UNSUPPORTED) GTEST_SKIP() << "no change feed (optional in the interface)";
  plugins::check(st, err, "subscribe");

  std::thread writer([&] { tx(json::array({{{"op", "set"}, {"path", "g/1"}, {"value", json::object()}}})); });
  {
    std::unique_lock lk(gate.mu);
    ASSERT_TRUE(gate.cv.wait_for(lk, 20s, [&] { return gate.entered; }));
  }
  std::thread unsub([&] {
    vt.unsubscribe(inst_->self(), id);
    std::lock_guard lk(gate.mu);
    gate.returned = true;
    gate.cv.notify_all();
  });
  {
    std::unique_lock lk(gate.mu);
    // The callback is still running, so unsubscribe must not have returned.
    EXPECT_FALSE(gate.cv.wait_for(lk, 150ms, [&] { return gate.returned; }));
    gate.release = true;
    gate.cv.notify_all();
  }
  unsub.join();
  writer.join();
  EXPECT_TRUE(gate.returned);
  // Nothing more after unsubscribe returned (a live sentinel shows the write was delivered).
  Feed sentinel;
  auto s = subscribe("g", sentinel);
  tx(json::array({{{"op", "set"}, {"path", "g/2"}, {"value", json::object()}}}));
  ASSERT_TRUE(sentinel.wait_for(1));
  EXPECT_EQ(gate.calls.load(), 1);
  unsubscribe(*s);
}

// ---- persistence, isolation, names, sizes -----------------------------------------

TEST_P(RtdbConformance, PersistsAcrossReopen) {
  if (!persistent()) GTEST_SKIP() << "in-memory adapter";
  seed(50);
  tx(json::array({{{"op", "set"}, {"path", "keep/me"}, {"value", {{"v", "persisted"}}}}}));
  auto before = query("items", {{"filter", {{"n", 3}}}, {"sort", {{{"field", "i"}, {"dir", "desc"}}}}});
  inst_.reset();  // LMDB: one open environment per directory and process
  inst_ = reopen();
  EXPECT_EQ(get("keep/me")["v"], "persisted");
  EXPECT_EQ(query("items", {{"filter", {{"n", 3}}}, {"sort", {{{"field", "i"}, {"dir", "desc"}}}}}), before);
  tx(json::array({{{"op", "update"}, {"path", "keep/me"}, {"value", {{"w", 1}}}}}));
  EXPECT_EQ(get("keep/me"), (json{{"v", "persisted"}, {"w", 1}}));
}

TEST_P(RtdbConformance, TenantAndDatabaseIsolation) {
  tx(json::array({{{"op", "set"}, {"path", "s/doc"}, {"value", {{"owner", "alice"}}}}}));
  EXPECT_EQ(code_of([&] { get("s/doc", kB); }), CM_NOT_FOUND);
  EXPECT_TRUE(query("s", json::object(), kB)["docs"].empty());
  EXPECT_EQ(code_of([&] { get("s/doc", kA, "f1~another-db"); }), CM_NOT_FOUND);
  EXPECT_TRUE(query("s", json::object(), kA, "f1~another-db")["docs"].empty());
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "delete"}, {"path", "s/doc"}}}), kB); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { tx(json::array({{{"op", "update"}, {"path", "s/doc"}, {"value", {{"x", 1}}}}}), kB); }), CM_NOT_FOUND);
  // Same path for tenant B and in another database: independent documents.
  tx(json::array({{{"op", "set"}, {"path", "s/doc"}, {"value", {{"owner", "bob"}}}}}), kB);
  tx(json::array({{{"op", "set"}, {"path", "s/doc"}, {"value", {{"owner", "alice-2"}}}}}), kA, "f1~another-db");
  tx(json::array({{{"op", "create"}, {"path", "s"}, {"value", {{"owner", "bob"}}}}}), kB);
  EXPECT_EQ(get("s/doc")["owner"], "alice");
  EXPECT_EQ(get("s/doc", kB)["owner"], "bob");
  EXPECT_EQ(get("s/doc", kA, "f1~another-db")["owner"], "alice-2");
  EXPECT_EQ(ids(query("s", json::object())), std::vector<std::string>{"doc"});
  EXPECT_EQ(query("s", json::object(), kB)["docs"].size(), 2u);
  tx(json::array({{{"op", "delete"}, {"path", "s/doc"}}}), kB);
  EXPECT_EQ(get("s/doc")["owner"], "alice");
}

TEST_P(RtdbConformance, UnicodePathsAndIds) {
  const std::string coll = "dokumentumok/ünï/cödé ✓", id = "Árvíztűrő tükörfúrógép 🚀";
  tx(json::array({{{"op", "set"}, {"path", coll + "/" + id}, {"value", {{"név", "日本語"}, {"emoji", "🙂"}}}}}));
  EXPECT_EQ(get(coll + "/" + id), (json{{"név", "日本語"}, {"emoji", "🙂"}}));
  auto r = query(coll, {{"filter", {{"név", "日本語"}}}});
  EXPECT_EQ(ids(r), std::vector<std::string>{id});
  EXPECT_EQ(code_of([&] { get("dokumentumok/ünï/cödé ✓/Árvíztűrő"); }), CM_NOT_FOUND);
  const std::string db = "f1~ünï-db";
  tx(json::array({{{"op", "set"}, {"path", "c/d"}, {"value", {{"k", 1}}}}}), kA, db);
  EXPECT_EQ(get("c/d", kA, db)["k"], 1);
}

TEST_P(RtdbConformance, LongIdsAreNeverTruncated) {
  // 1024-byte names that differ only in their last byte stay separate.
  const std::string base(1023, 'x');
  const std::string coll1 = base + "1", coll2 = base + "2", id1 = base + "a", id2 = base + "b";
  tx(json::array({{{"op", "set"}, {"path", coll1 + "/" + id1}, {"value", {{"v", 11}}}},
                  {{"op", "set"}, {"path", coll1 + "/" + id2}, {"value", {{"v", 12}}}},
                  {{"op", "set"}, {"path", coll2 + "/" + id1}, {"value", {{"v", 21}}}},
                  {{"op", "set"}, {"path", "c/" + id1}, {"value", {{"v", 1}}}},
                  {{"op", "set"}, {"path", "c/" + base.substr(0, 200)}, {"value", {{"v", 2}}}},
                  {{"op", "set"}, {"path", "c/" + base.substr(0, 201)}, {"value", {{"v", 3}}}}}));
  EXPECT_EQ(get(coll1 + "/" + id1)["v"], 11);
  EXPECT_EQ(get(coll1 + "/" + id2)["v"], 12);
  EXPECT_EQ(get(coll2 + "/" + id1)["v"], 21);
  EXPECT_EQ(code_of([&] { get(coll2 + "/" + id2); }), CM_NOT_FOUND);
  EXPECT_EQ(ids(query(coll1, json::object())), (std::vector<std::string>{id1, id2}));
  EXPECT_EQ(ids(query("c", {{"sort", {{{"field", "v"}, {"dir", "desc"}}}}})), (std::vector<std::string>{base.substr(0, 201), base.substr(0, 200), id1}));
  tx(json::array({{{"op", "delete"}, {"path", coll1 + "/" + id1}}}));
  EXPECT_EQ(ids(query(coll1, json::object())), std::vector<std::string>{id2});
  // Databases too.
  const std::string db1 = base + "1", db2 = base + "2";
  tx(json::array({{{"op", "set"}, {"path", "c/d"}, {"value", {{"db", 1}}}}}), kA, db1);
  tx(json::array({{{"op", "set"}, {"path", "c/d"}, {"value", {{"db", 2}}}}}), kA, db2);
  EXPECT_EQ(get("c/d", kA, db1)["db"], 1);
  EXPECT_EQ(get("c/d", kA, db2)["db"], 2);
}

TEST_P(RtdbConformance, LargeDocuments) {
  std::string big(4 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = char('a' + (i / 4096) % 26);
  tx(json::array({{{"op", "set"}, {"path", "big/one"}, {"value", {{"big", big}, {"n", 1}}}}}));
  EXPECT_EQ(get("big/one")["big"].get<std::string>(), big);
  auto r = query("big", {{"filter", {{"n", 1}}}});
  ASSERT_EQ(r["docs"].size(), 1u);
  EXPECT_EQ(r["docs"][0]["data"]["big"].get<std::string>(), big);
  tx(json::array({{{"op", "update"}, {"path", "big/one"}, {"value", {{"n", 2}}}}}));
  EXPECT_EQ(get("big/one")["big"].get<std::string>().size(), big.size());
}

TEST_P(RtdbConformance, BadInputIsInvalidWithAMessage) {
  auto r = rtdb();
  auto invalid = [&](const std::function<void()>& f, const std::string& what) {
    std::string msg = message_of(f);
    EXPECT_EQ(code_of(f), CM_INVALID) << what;
    auto colon = msg.find(": ");
    EXPECT_GE(msg.size() - (colon == std::string::npos ? 0 : colon + 2), 10u) << what << ": message '" << msg << "'";
  };
  auto set_at = [&](const std::string& path) { return [&r, path] { r.transact(kA, kDb, json::array({{{"op", "set"}, {"path", path}, {"value", json::object()}}}).dump()); }; };
  invalid([&] { r.transact(kA, kDb, "{not json"); }, "invalid JSON");
  invalid([&] { r.transact(kA, kDb, ""); }, "empty text");
  invalid([&] { r.transact(kA, kDb, R"({"op":"set"})"); }, "not an array");
  invalid([&] { r.transact(kA, kDb, R"([42])"); }, "op not an object");
  invalid([&] { r.transact(kA, kDb, R"([{"path":"a/b","value":{}}])"); }, "no op");
  invalid([&] { r.transact(kA, kDb, R"([{"op":"set","value":{}}])"); }, "no path");
  invalid([&] { r.transact(kA, kDb, R"([{"op":"frobnicate","path":"a/b"}])"); }, "unknown op");
  invalid([&] { r.transact(kA, kDb, R"([{"op":"set","path":"a/b"}])"); }, "set without value");
  invalid([&] { r.transact(kA, kDb, R"([{"op":"set","path":"a/b","value":5}])"); }, "value not an object");
  invalid([&] { r.transact(kA, kDb, R"([{"op":"update","path":"a/b","value":[1]}])"); }, "update value not an object");
  invalid([&] { r.transact(kA, kDb, R"([{"op":"create","path":"a/b","value":{}}])"); }, "create on a document path");
  invalid([&] { r.transact(kA, kDb, R"([{"op":"delete","path":"a"}])"); }, "delete of a collection path");
  for (const std::string& path : {std::string(""), std::string("a"), std::string("a//b"), std::string("/a/b"), std::string("a/b/"), std::string("a/") + std::string(1025, 'p'),
                                  std::string(1025, 'c') + "/x", std::string("a/b\0c", 5), std::string("a/") + std::string(5000, 'p').replace(1000, 1, "/")})
    invalid(set_at(path), "path of " + std::to_string(path.size()) + " bytes: " + path.substr(0, 20));
  invalid([&] { r.transact(kA, kDb, "[{\"op\":\"set\",\"path\":\"a/\xff\xfe\",\"value\":{}}]"); }, "path not UTF-8");
  invalid([&] { r.get(kA, kDb, "a/\xc0\xaf"); }, "overlong UTF-8 in get");
  invalid([&] { r.get(kA, kDb, "a"); }, "get of a collection path");
  invalid([&] { r.get(kA, kDb, "a//b"); }, "get with empty segment");
  invalid([&] { r.get(kA, "", "a/b"); }, "empty database id");
  invalid([&] { r.get(kA, std::string(1025, 'd'), "a/b"); }, "database id > 1 KiB");
  invalid([&] { r.query(kA, kDb, "a/b", "{}"); }, "query of a document path");
  invalid([&] { r.query(kA, kDb, "a", "[1]"); }, "query not an object");
  invalid([&] { r.query(kA, kDb, "a", "{nope"); }, "query not JSON");
  invalid([&] { r.query(kA, kDb, "a", R"({"filter":{"n":{"$regex":"x"}}})"); }, "unknown operator");
  invalid([&] { r.query(kA, kDb, "a", R"({"filter":{"n":{"$in":3}}})"); }, "$in without array");
  invalid([&] { r.query(kA, kDb, "a", R"({"filter":[1]})"); }, "filter not an object");
  invalid([&] { r.query(kA, kDb, "a", R"({"sort":{"field":"n"}})"); }, "sort not an array");
  invalid([&] { r.query(kA, kDb, "a", R"({"sort":[{"dir":"asc"}]})"); }, "sort without field");
  invalid([&] { r.query(kA, kDb, "a", R"({"sort":[{"field":"n","dir":"up"}]})"); }, "bad sort direction");
  invalid([&] { r.query(kA, kDb, "a", R"({"limit":0})"); }, "limit 0");
  invalid([&] { r.query(kA, kDb, "a", R"({"limit":-1})"); }, "negative limit");
  invalid([&] { r.query(kA, kDb, "a", R"({"limit":"ten"})"); }, "limit not a number");
  invalid([&] { r.query(kA, kDb, "a", R"({"offset":-1})"); }, "negative offset");
  invalid([&] { r.query(kA, kDb, "a", R"({"cursor":"%%%"})"); }, "garbage cursor");
  invalid([&] { r.query(kA, kDb, "a", R"({"frobnicate":1})"); }, "unknown query member");
  // Nothing of the above was stored.
  EXPECT_TRUE(query("a", json::object())["docs"].empty());
}

TEST_P(RtdbConformance, ConcurrentWritersOnDistinctDocuments) {
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        try {
          tx(json::array({{{"op", "set"}, {"path", "c/t" + std::to_string(t) + "-" + std::to_string(i)}, {"value", {{"t", t}, {"i", i}}}}}));
          if (get("c/t" + std::to_string(t) + "-" + std::to_string(i))["i"] != i) ++errors;
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(query("c", json::object())["docs"].size(), 200u);
  EXPECT_EQ(query("c", {{"filter", {{"t", 3}}}})["docs"].size(), 25u);
}

TEST_P(RtdbConformance, ReadersNeverSeeHalfATransaction) {
  tx(json::array({{{"op", "set"}, {"path", "pair/a"}, {"value", {{"v", 0}}}}, {{"op", "set"}, {"path", "pair/b"}, {"value", {{"v", 0}}}}}));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r)
    readers.emplace_back([&] {
      while (!done) {
        auto docs = query("pair", json::object())["docs"];
        if (docs.size() != 2 || docs[0]["data"]["v"] != docs[1]["data"]["v"]) ++torn;
        ++reads;
      }
    });
  // Write at least 100 transactions, and go on until the readers have really
  // overlapped with the writer: a fast in-memory adapter can finish 100
  // writes before a reader thread is even scheduled.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 1; i <= 100 || (reads < 50 && std::chrono::steady_clock::now() < deadline); ++i)
    tx(json::array({{{"op", "update"}, {"path", "pair/a"}, {"value", {{"v", i}}}}, {{"op", "update"}, {"path", "pair/b"}, {"value", {{"v", i}}}}}));
  done = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(torn, 0);
  EXPECT_GT(reads, 0);
}

INSTANTIATE_TEST_SUITE_P(Rtdb, RtdbConformance, ::testing::ValuesIn(adapters_of(CM_KIND_RTDB)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RtdbConformance);

}  // namespace
}  // namespace cumulo::conformance
