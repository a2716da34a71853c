// Meta adapter conformance for the provisional parts: tenants (+ profiles and
// the public key cache), actions (+ inbound queue), files (+ variants). Each
// test skips when the adapter lacks the part. The shapes below are the ones
// adapters-builtin/sqlite/README.md specifies; camelCase keys, timestamps in
// Unix seconds unless named *Ms.
//
// tenants
//   create_tenant({"idTag","type":"P|C","name"?,"tnId"?}) → stored record
//     {"tnId","idTag","type","name","profilePic","coverPic","x":{},"createdAt"}
//     (a given tnId is kept, else one is assigned); duplicate idTag or tnId →
//     CM_CONFLICT. get_tenant(tn) by tn_id; update_tenant(tn, patch) merges
//     top-level keys, changing tnId/idTag → CM_INVALID; delete_tenant(tn)
//     removes the tenant and every row of every part with its tn_id;
//     list_tenants({"q"?: prefix of idTag or name}) → array sorted by tnId.
// profiles, key (tn, idTag)
//   upsert_profile(tn, {"idTag", "name"?, "type"?, "profilePic"?, "status"?,
//     "perm"?, "following"?:bool, "follower"?:bool, "connected"?:true|false|"R",
//     "roles"?:[…], "trust"?, "syncedAt"?, "etag"?}) merges the given keys;
//   get_profile → record | CM_NOT_FOUND; list_profiles({"following"?,
//     "follower"?, "connected"?, "q"? (idTag or name prefix, ASCII
//     case-insensitive), "idTags"?:[…], "limit"? (100), "cursor"?}) →
//     {"profiles":[… by idTag], "cursor": string|null}.
// public keys (node-global)
//   put_public_key({"idTag","keyId","publicKey","expiresAt"?}) upserts;
//   get_public_key(idTag, keyId) → record (expired too) | CM_NOT_FOUND.
// actions
//   put_action(tn, {"actionId","type","issuerTag","createdAt", "subType"?,
//     "key"?, "parentId"?, "rootId"?, "audience"?, "subject"?, "content"?,
//     "attachments"?, "visibility"? ("D"), "flags"?, "status"? ("A"),
//     "expiresAt"?, "token"?, "x"?}) → {"stored":record} or, when an action of
//     the tenant had the same non-empty "key", {"stored":…, "replaced":"<old
//     actionId>"} (the old one stays with status "D" and no key);
//     duplicate actionId → CM_CONFLICT.
//   get_action → record + "stats":{"comments","reactions"} (+ "token" if
//     stored); update_action merges (actionId immutable; "stats" and "token"
//     settable); list_actions({"type"?:[…], "issuerTag"?, "parentId"?,
//     "rootId"?, "audience"?, "subject"?, "key"?, "status"?:[…],
//     "visibility"?:[…], "before"?,
//     "limit"? (20, max 500), "cursor"?}) → {"actions":[…], "cursor"} ordered
//     by (createdAt desc, actionId desc).
//   push_inbound(tn, {"actionId","token","ackToken"?,"receivedAt"?}) (same
//     actionId queued twice → no-op); pop_inbound(tn, limit) returns and
//     removes the oldest entries atomically (limit 0 = all).
// files
//   put_file(tn, {"fileType":"BLOB|CRDT|RTDB|FLDR", "status":"P|A|D",
//     "ownerTag", "fileId"?, …}) → record with an assigned integer "fId";
//   get_file(tn, fileId | "@<fId>"); update_file merges (fId immutable);
//   list_files({"parentId"?, "status"?, "fileType"?, "tag"?, "q"? (fileName
//     substring), "limit"? (100), "cursor"?}) → {"files":[… newest first],
//     "cursor"}; put_variant(tn, {"fileId"|"fId", "variant", "variantId",
//     "resX"?, "resY"?, "format"?, "size"?, "available"?, "duration"?,
//     "pages"?}) upserts by (file, variant); list_variants(tn, fileId|"@fId")
//     → array by variant.
// Everywhere: invalid JSON or a missing required key → CM_INVALID with a
// message; a missing addressed object → CM_NOT_FOUND.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using json = nlohmann::json;
using plugins::PluginError;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

struct Outcome {
  cm_status code = CM_OK;
  std::string message;
};

class MetaDataConformance : public AdapterFixture {
 protected:
  const cm_meta_vtable& vt() const { return inst_->factory().vt.meta; }
  void* self() const { return inst_->self(); }
  static cm_str s(std::string_view v) { return plugins::to_cm(v); }

  // Calls a slot that writes JSON; throws PluginError on failure.
  static json out(const char* what, const std::function<int32_t(const cm_sink*, cm_error*)>& f) {
    plugins::StringSink sink;
    cm_error err = plugins::new_error();
    plugins::check(f(&sink.sink, &err), err, what);
    return json::parse(sink.data);
  }
  static void run(const char* what, const std::function<int32_t(cm_error*)>& f) {
    cm_error err = plugins::new_error();
    plugins::check(f(&err), err, what);
  }
  // Status and message of a call, without throwing.
  static Outcome outcome(const std::function<void()>& f) {
    try {
      f();
    } catch (const PluginError& e) {
      return {e.code(), e.what()};
    }
    return {};
  }
  static cm_status code_of(const std::function<void()>& f) { return outcome(f).code; }

  // -- tenants part
  json create_tenant(const json& t) const {
    return out("create_tenant", [&](const cm_sink* o, cm_error* e) { return vt().tenants->create_tenant(self(), s(t.dump()), o, e); });
  }
  json get_tenant(const TenantRef& tn) const {
    auto c = tn.c();
    return out("get_tenant", [&](const cm_sink* o, cm_error* e) { return vt().tenants->get_tenant(self(), &c, o, e); });
  }
  void update_tenant(const TenantRef& tn, const std::string& patch) const {
    auto c = tn.c();
    run("update_tenant", [&](cm_error* e) { return vt().tenants->update_tenant(self(), &c, s(patch), e); });
  }
  void delete_tenant(const TenantRef& tn) const {
    auto c = tn.c();
    run("delete_tenant", [&](cm_error* e) { return vt().tenants->delete_tenant(self(), &c, e); });
  }
  json list_tenants(const std::string& filter) const {
    return out("list_tenants", [&](const cm_sink* o, cm_error* e) { return vt().tenants->list_tenants(self(), s(filter), o, e); });
  }
  void upsert_profile(const TenantRef& tn, const std::string& p) const {
    auto c = tn.c();
    run("upsert_profile", [&](cm_error* e) { return vt().tenants->upsert_profile(self(), &c, s(p), e); });
  }
  json get_profile(const TenantRef& tn, const std::string& id_tag) const {
    auto c = tn.c();
    return out("get_profile", [&](const cm_sink* o, cm_error* e) { return vt().tenants->get_profile(self(), &c, s(id_tag), o, e); });
  }
  json list_profiles(const TenantRef& tn, const json& filter) const {
    auto c = tn.c();
    std::string f = filter.dump();
    return out("list_profiles", [&](const cm_sink* o, cm_error* e) { return vt().tenants->list_profiles(self(), &c, s(f), o, e); });
  }
  // -- actions part
  json put_action(const TenantRef& tn, const json& a) const {
    auto c = tn.c();
    std::string text = a.dump();
    return out("put_action", [&](const cm_sink* o, cm_error* e) { return vt().actions->put_action(self(), &c, s(text), o, e); });
  }
  json get_action(const TenantRef& tn, const std::string& id) const {
    auto c = tn.c();
    return out("get_action", [&](const cm_sink* o, cm_error* e) { return vt().actions->get_action(self(), &c, s(id), o, e); });
  }
  void update_action(const TenantRef& tn, const std::string& id, const std::string& patch) const {
    auto c = tn.c();
    run("update_action", [&](cm_error* e) { return vt().actions->update_action(self(), &c, s(id), s(patch), e); });
  }
  json list_actions(const TenantRef& tn, const json& filter) const {
    auto c = tn.c();
    std::string f = filter.dump();
    return out("list_actions", [&](const cm_sink* o, cm_error* e) { return vt().actions->list_actions(self(), &c, s(f), o, e); });
  }
  // Every action matching `filter`, following cursors with page size `page`.
  std::vector<json> list_all_actions(const TenantRef& tn, json filter, int page) const {
    std::vector<json> all;
    filter["limit"] = page;
    for (int guard = 0; guard < 10000; ++guard) {
      json r = list_actions(tn, filter);
      for (auto& a : r["actions"]) all.push_back(a);
      if (r["cursor"].is_null()) break;
      filter["cursor"] = r["cursor"];
    }
    return all;
  }
  void push_inbound(const TenantRef& tn, const json& in) const {
    auto c = tn.c();
    std::string text = in.dump();
    run("push_inbound", [&](cm_error* e) { return vt().actions->push_inbound(self(), &c, s(text), e); });
  }
  json pop_inbound(const TenantRef& tn, uint32_t limit) const {
    auto c = tn.c();
    return out("pop_inbound", [&](const cm_sink* o, cm_error* e) { return vt().actions->pop_inbound(self(), &c, limit, o, e); });
  }
  // -- files part
  json put_file(const TenantRef& tn, const json& f) const {
    auto c = tn.c();
    std::string text = f.dump();
    return out("put_file", [&](const cm_sink* o, cm_error* e) { return vt().files->put_file(self(), &c, s(text), o, e); });
  }
  json get_file(const TenantRef& tn, const std::string& id) const {
    auto c = tn.c();
    return out("get_file", [&](const cm_sink* o, cm_error* e) { return vt().files->get_file(self(), &c, s(id), o, e); });
  }
  void update_file(const TenantRef& tn, const std::string& id, const std::string& patch) const {
    auto c = tn.c();
    run("update_file", [&](cm_error* e) { return vt().files->update_file(self(), &c, s(id), s(patch), e); });
  }
  json list_files(const TenantRef& tn, const json& filter) const {
    auto c = tn.c();
    std::string f = filter.dump();
    return out("list_files", [&](const cm_sink* o, cm_error* e) { return vt().files->list_files(self(), &c, s(f), o, e); });
  }
  void put_variant(const TenantRef& tn, const json& v) const {
    auto c = tn.c();
    std::string text = v.dump();
    run("put_variant", [&](cm_error* e) { return vt().files->put_variant(self(), &c, s(text), e); });
  }
  json list_variants(const TenantRef& tn, const std::string& id) const {
    auto c = tn.c();
    return out("list_variants", [&](const cm_sink* o, cm_error* e) { return vt().files->list_variants(self(), &c, s(id), o, e); });
  }

  static json action(const std::string& id, int64_t created, const std::string& type = "POST", const std::string& vis = "P") {
    return {{"actionId", id}, {"type", type}, {"issuerTag", "alice.test"}, {"createdAt", created}, {"visibility", vis}, {"content", {{"text", "hello " + id}}}};
  }
  static json file(const std::string& name, const std::string& status = "A") {
    return {{"fileType", "BLOB"}, {"status", status}, {"ownerTag", "alice.test"}, {"fileName", name}, {"contentType", "image/png"}};
  }
};

#define NEED(part)                                          \
  if (!vt().part) GTEST_SKIP() << "no " #part " part"; \
  static_assert(true)

// ---- tenants --------------------------------------------------------------------

TEST_P(MetaDataConformance, TenantsCreateGetUpdateList) {
  NEED(tenants);
  json a = create_tenant({{"idTag", "alice.test"}, {"type", "P"}, {"name", "Alice Ünïcødé ✓"}});
  ASSERT_TRUE(a["tnId"].is_number_integer());
  EXPECT_GT(a["tnId"].get<int64_t>(), 0);
  EXPECT_EQ(a["idTag"], "alice.test");
  EXPECT_EQ(a["name"], "Alice Ünïcødé ✓");
  EXPECT_EQ(a["x"], json::object());
  EXPECT_TRUE(a.contains("profilePic") && a.contains("coverPic") && a.contains("createdAt"));
  json b = create_tenant({{"idTag", "club.test"}, {"type", "C"}, {"tnId", 77}});
  EXPECT_EQ(b["tnId"], 77);  // given tnId kept (migration)
  EXPECT_EQ(code_of([&] { create_tenant({{"idTag", "alice.test"}, {"type", "P"}}); }), CM_CONFLICT);
  EXPECT_EQ(code_of([&] { create_tenant({{"idTag", "other.test"}, {"type", "P"}, {"tnId", 77}}); }), CM_CONFLICT);

  TenantRef ta{static_cast<uint32_t>(a["tnId"].get<int64_t>()), "alice.test"};
  EXPECT_EQ(get_tenant(ta), a);
  update_tenant(ta, R"({"name":"Alice","x":{"theme":"dark"},"profilePic":"b1~pic"})");
  json got = get_tenant(ta);
  EXPECT_EQ(got["name"], "Alice");
  EXPECT_EQ(got["x"]["theme"], "dark");
  EXPECT_EQ(got["type"], "P");  // untouched keys survive
  EXPECT_EQ(got["profilePic"], "b1~pic");
  EXPECT_EQ(code_of([&] { update_tenant(ta, R"({"idTag":"mallory.test"})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { update_tenant(ta, R"({"tnId":999})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { update_tenant({4242, "nobody"}, R"({"name":"x"})"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get_tenant({4242, "nobody"}); }), CM_NOT_FOUND);

  json all = list_tenants("");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0]["tnId"].get<int64_t>(), all[1]["tnId"].get<int64_t>());  // sorted by tnId
  json q = list_tenants(R"({"q":"clu"})");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0]["idTag"], "club.test");
  EXPECT_TRUE(list_tenants(R"({"q":"zzz"})").empty());
}

TEST_P(MetaDataConformance, DeleteTenantRemovesAllItsData) {
  NEED(tenants);
  json a = create_tenant({{"idTag", "alice.test"}, {"type", "P"}});
  json b = create_tenant({{"idTag", "bob.test"}, {"type", "P"}});
  TenantRef ta{static_cast<uint32_t>(a["tnId"].get<int64_t>()), "alice.test"};
  TenantRef tb{static_cast<uint32_t>(b["tnId"].get<int64_t>()), "bob.test"};
  for (const auto& t : {ta, tb}) {
    upsert_profile(t, R"({"idTag":"carol.test","name":"Carol"})");
    if (vt().actions) {
      put_action(t, action("a1", 100));
      push_inbound(t, {{"actionId", "in1"}, {"token", "tok"}});
    }
    if (vt().files) put_file(t, file("f.png"));
    if (vt().settings) {
      auto c = t.c();
      run("put_setting", [&](cm_error* e) { return vt().settings->put_setting(self(), &c, s("k"), s("1"), e); });
    }
  }
  delete_tenant(ta);
  EXPECT_EQ(code_of([&] { get_tenant(ta); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get_profile(ta, "carol.test"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { delete_tenant(ta); }), CM_NOT_FOUND);
  if (vt().actions) {
    EXPECT_EQ(code_of([&] { get_action(ta, "a1"); }), CM_NOT_FOUND);
    EXPECT_TRUE(pop_inbound(ta, 0).empty());
    EXPECT_EQ(get_action(tb, "a1")["actionId"], "a1");
  }
  if (vt().files) {
    EXPECT_TRUE(list_files(ta, json::object())["files"].empty());
    EXPECT_EQ(list_files(tb, json::object())["files"].size(), 1u);
  }
  if (vt().settings) {
    auto c = ta.c();
    cm_error e = plugins::new_error();
    plugins::StringSink sink;
    EXPECT_EQ(vt().settings->get_setting(self(), &c, s("k"), &sink.sink, &e), CM_NOT_FOUND);
  }
  // The other tenant is untouched.
  EXPECT_EQ(get_tenant(tb)["idTag"], "bob.test");
  EXPECT_EQ(get_profile(tb, "carol.test")["name"], "Carol");
}

TEST_P(MetaDataConformance, TenantsBadInputIsInvalidWithMessage) {
  NEED(tenants);
  for (const char* bad : {"{not json", "[]", R"({"type":"P"})", R"({"idTag":"x.test"})", R"({"idTag":"x.test","type":"Q"})", R"({"idTag":"","type":"P"})",
                          R"({"idTag":"x.test","type":"P","tnId":"seven"})", R"({"idTag":"x.test","type":"P","name":42})"}) {
    auto o = outcome([&] {
      out("create_tenant", [&](const cm_sink* sk, cm_error* e) { return vt().tenants->create_tenant(self(), s(bad), sk, e); });
    });
    EXPECT_EQ(o.code, CM_INVALID) << bad;
    EXPECT_GT(o.message.size(), 10u) << bad;
  }
  EXPECT_NE(outcome([&] { create_tenant({{"type", "P"}}); }).message.find("idTag"), std::string::npos);
  EXPECT_EQ(code_of([&] { upsert_profile(kA, R"({"name":"no idTag"})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { upsert_profile(kA, R"({"idTag":"x","connected":"maybe"})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { list_profiles(kA, {{"following", "yes"}}); }), CM_INVALID);
}

// ---- profiles -------------------------------------------------------------------

TEST_P(MetaDataConformance, ProfilesUpsertMergesAndIsIsolated) {
  NEED(tenants);
  upsert_profile(kA, R"({"idTag":"carol.test","name":"Carol ✓ 日本","type":"P","following":true,"roles":["member"]})");
  upsert_profile(kA, R"({"idTag":"carol.test","connected":"R","etag":"e1"})");  // merge
  json p = get_profile(kA, "carol.test");
  EXPECT_EQ(p["name"], "Carol ✓ 日本");
  EXPECT_EQ(p["following"], true);
  EXPECT_EQ(p["connected"], "R");
  EXPECT_EQ(p["roles"], json::array({"member"}));
  EXPECT_EQ(p["etag"], "e1");
  EXPECT_EQ(code_of([&] { get_profile(kB, "carol.test"); }), CM_NOT_FOUND);
  EXPECT_TRUE(list_profiles(kB, json::object())["profiles"].empty());
  upsert_profile(kB, R"({"idTag":"carol.test","name":"B's Carol"})");
  EXPECT_EQ(get_profile(kA, "carol.test")["name"], "Carol ✓ 日本");
  EXPECT_EQ(get_profile(kB, "carol.test")["name"], "B's Carol");
  EXPECT_EQ(code_of([&] { get_profile(kA, "nobody.test"); }), CM_NOT_FOUND);
}

TEST_P(MetaDataConformance, ProfilesListFiltersAndPaging) {
  NEED(tenants);
  for (int i = 0; i < 7; ++i) {
    json p = {{"idTag", "p" + std::to_string(i) + ".test"}, {"name", i % 2 ? "Zoë " + std::to_string(i) : "Adam " + std::to_string(i)}};
    p["following"] = i < 3;
    p["follower"] = i >= 5;
    if (i == 6) p["connected"] = true;
    if (i == 5) p["connected"] = "R";
    upsert_profile(kA, p.dump());
  }
  auto tags = [](const json& r) {
    std::vector<std::string> v;
    for (auto& p : r["profiles"]) v.push_back(p["idTag"]);
    return v;
  };
  EXPECT_EQ(tags(list_profiles(kA, {{"following", true}})), (std::vector<std::string>{"p0.test", "p1.test", "p2.test"}));
  EXPECT_EQ(tags(list_profiles(kA, {{"follower", true}})), (std::vector<std::string>{"p5.test", "p6.test"}));
  EXPECT_EQ(tags(list_profiles(kA, {{"connected", true}})), (std::vector<std::string>{"p6.test"}));
  EXPECT_EQ(tags(list_profiles(kA, {{"connected", "R"}})), (std::vector<std::string>{"p5.test"}));
  EXPECT_EQ(list_profiles(kA, {{"connected", false}})["profiles"].size(), 5u);
  EXPECT_EQ(tags(list_profiles(kA, {{"q", "zo"}})), (std::vector<std::string>{"p1.test", "p3.test", "p5.test"}));  // name prefix, any case
  EXPECT_EQ(tags(list_profiles(kA, {{"q", "P4"}})), (std::vector<std::string>{"p4.test"}));                        // idTag prefix
  EXPECT_EQ(tags(list_profiles(kA, {{"idTags", {"p2.test", "p4.test", "nobody"}}})), (std::vector<std::string>{"p2.test", "p4.test"}));
  // Paging: 3 + 3 + 1, no duplicates, no gaps, idTag order.
  std::vector<std::string> all;
  json f = {{"limit", 3}};
  int pages = 0;
  for (;; ++pages) {
    json r = list_profiles(kA, f);
    for (auto& t : tags(r)) all.push_back(t);
    if (r["cursor"].is_null()) break;
    f["cursor"] = r["cursor"];
  }
  EXPECT_EQ(pages, 2);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 7u);
}

TEST_P(MetaDataConformance, PublicKeysUpsertAndExpired) {
  NEED(tenants);
  auto put = [&](const json& k) { run("put_public_key", [&](cm_error* e) { return vt().tenants->put_public_key(self(), s(k.dump()), e); }); };
  auto get = [&](const std::string& tag, const std::string& kid) {
    return out("get_public_key", [&](const cm_sink* o, cm_error* e) { return vt().tenants->get_public_key(self(), s(tag), s(kid), o, e); });
  };
  put({{"idTag", "carol.test"}, {"keyId", "20250101"}, {"publicKey", "MHYw-old"}, {"expiresAt", 1}});
  EXPECT_EQ(get("carol.test", "20250101")["publicKey"], "MHYw-old");
  EXPECT_EQ(get("carol.test", "20250101")["expiresAt"], 1);  // expired keys still returned: the host decides
  put({{"idTag", "carol.test"}, {"keyId", "20250101"}, {"publicKey", "MHYw-new"}});
  EXPECT_EQ(get("carol.test", "20250101")["publicKey"], "MHYw-new");
  EXPECT_EQ(code_of([&] { get("carol.test", "nope"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get("dave.test", "20250101"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { put({{"idTag", "carol.test"}, {"keyId", "k"}}); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { run("put_public_key", [&](cm_error* e) { return vt().tenants->put_public_key(self(), s("{oops"), e); }); }), CM_INVALID);
}

// ---- actions --------------------------------------------------------------------

TEST_P(MetaDataConformance, ActionsPutGetUpdateStatsToken) {
  NEED(actions);
  json a = action("a1~x", 1000);
  a["token"] = "eyJhbGciOiJFUzM4NCJ9.e30.sig";
  a["attachments"] = {"b1~one", "b1~two"};
  a["custom"] = {{"kept", true}};  // unknown keys are stored verbatim
  json r = put_action(kA, a);
  EXPECT_FALSE(r.contains("replaced"));
  json st = r["stored"];
  EXPECT_EQ(st["actionId"], "a1~x");
  EXPECT_EQ(st["visibility"], "P");
  EXPECT_EQ(st["status"], "A");  // default
  json got = get_action(kA, "a1~x");
  EXPECT_EQ(got["token"], "eyJhbGciOiJFUzM4NCJ9.e30.sig");
  EXPECT_EQ(got["stats"], (json{{"comments", 0}, {"reactions", 0}}));
  EXPECT_EQ(got["attachments"], json::array({"b1~one", "b1~two"}));
  EXPECT_EQ(got["content"]["text"], "hello a1~x");
  EXPECT_EQ(got["custom"]["kept"], true);
  json d = put_action(kA, {{"actionId", "a2"}, {"type", "MSG"}, {"issuerTag", "bob.test"}, {"createdAt", 5}})["stored"];
  EXPECT_EQ(d["visibility"], "D");  // default

  update_action(kA, "a1~x", R"({"status":"D","stats":{"comments":3,"reactions":7},"content":{"text":"edited"}})");
  got = get_action(kA, "a1~x");
  EXPECT_EQ(got["status"], "D");
  EXPECT_EQ(got["stats"], (json{{"comments", 3}, {"reactions", 7}}));
  EXPECT_EQ(got["content"]["text"], "edited");
  EXPECT_EQ(got["issuerTag"], "alice.test");  // untouched
  EXPECT_EQ(got["token"], "eyJhbGciOiJFUzM4NCJ9.e30.sig");  // kept when the patch has no "token"
  update_action(kA, "a1~x", R"({"token":"eyJhbGciOiJFUzM4NCJ9.e30.new"})");
  EXPECT_EQ(get_action(kA, "a1~x")["token"], "eyJhbGciOiJFUzM4NCJ9.e30.new");
  update_action(kA, "a1~x", R"({"token":null})");
  got = get_action(kA, "a1~x");
  EXPECT_FALSE(got.contains("token")) << got;
  EXPECT_EQ(got["content"]["text"], "edited");  // the rest of the row stays
  EXPECT_EQ(code_of([&] { update_action(kA, "a1~x", R"({"actionId":"other"})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { update_action(kA, "missing", R"({"status":"D"})"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get_action(kA, "missing"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { put_action(kA, action("a1~x", 2000)); }), CM_CONFLICT);  // duplicate actionId
}

TEST_P(MetaDataConformance, ActionsOverrideByKey) {
  NEED(actions);
  json r1 = action("r1", 10, "REACT");
  r1["key"] = "REACT:post1:alice.test";
  put_action(kA, r1);
  json other_tenant = r1;
  put_action(kB, other_tenant);  // same key, other tenant: independent
  json r2 = action("r2", 11, "REACT");
  r2["key"] = "REACT:post1:alice.test";
  json res = put_action(kA, r2);
  EXPECT_EQ(res["replaced"], "r1");
  EXPECT_EQ(res["stored"]["actionId"], "r2");
  // The superseded row stays, deleted and without its key, so a replay of
  // its token is recognised; its id still cannot be stored again.
  json old = get_action(kA, "r1");
  EXPECT_EQ(old["status"], "D");
  EXPECT_TRUE(!old.contains("key") || old["key"].is_null());
  EXPECT_EQ(code_of([&] { put_action(kA, r1); }), CM_CONFLICT);
  EXPECT_EQ(get_action(kA, "r2")["key"], "REACT:post1:alice.test");
  EXPECT_EQ(list_actions(kA, json{{"key", "REACT:post1:alice.test"}})["actions"].size(), 1u);
  EXPECT_EQ(list_actions(kA, json{{"subject", "nothing"}})["actions"].size(), 0u);
  EXPECT_EQ(get_action(kB, "r1")["actionId"], "r1");
  // Empty key: never overrides.
  json e1 = action("e1", 12), e2 = action("e2", 13);
  e1["key"] = "";
  e2["key"] = "";
  put_action(kA, e1);
  EXPECT_FALSE(put_action(kA, e2).contains("replaced"));
  EXPECT_EQ(list_actions(kA, json::object())["actions"].size(), 4u);  // r1 (D), r2, e1, e2
}

TEST_P(MetaDataConformance, ActionsListOrderAndPagingOver500) {
  NEED(actions);
  // 500 actions inserted in random order, createdAt colliding in threes: the
  // (createdAt desc, actionId desc) order must page without dup or gap.
  std::vector<int> idx(500);
  for (int i = 0; i < 500; ++i) idx[static_cast<size_t>(i)] = i;
  std::shuffle(idx.begin(), idx.end(), std::mt19937(42));
  for (int i : idx) {
    char id[16];
    std::snprintf(id, sizeof id, "a%04d", i);
    put_action(kA, action(id, 1000 + i / 3));
  }
  for (int page : {7, 20, 499, 500}) {
    auto all = list_all_actions(kA, json::object(), page);
    ASSERT_EQ(all.size(), 500u) << "page " << page;
    std::set<std::string> ids;
    for (size_t i = 0; i < all.size(); ++i) {
      ids.insert(all[i]["actionId"].get<std::string>());
      if (i == 0) continue;
      auto prev = std::make_pair(all[i - 1]["createdAt"].get<int64_t>(), all[i - 1]["actionId"].get<std::string>());
      auto cur = std::make_pair(all[i]["createdAt"].get<int64_t>(), all[i]["actionId"].get<std::string>());
      EXPECT_GT(prev, cur) << "page " << page << " at " << i;
    }
    EXPECT_EQ(ids.size(), 500u);
  }
  EXPECT_EQ(list_actions(kA, json::object())["actions"].size(), 20u);              // default limit
  EXPECT_EQ(list_actions(kA, {{"limit", 100000}})["actions"].size(), 500u);        // capped at 500
  EXPECT_TRUE(list_actions(kA, {{"limit", 100000}})["cursor"].is_null());
  EXPECT_EQ(list_actions(kA, {{"limit", 5}})["actions"][0]["actionId"], "a0499");  // newest first
}

TEST_P(MetaDataConformance, ActionsListFilters) {
  NEED(actions);
  auto put = [&](const std::string& id, int64_t t, const std::string& type, const std::string& vis, const json& extra) {
    json a = action(id, t, type, vis);
    for (auto& [k, v] : extra.items()) a[k] = v;
    put_action(kA, a);
  };
  put("p1", 100, "POST", "P", json::object());
  put("p2", 101, "POST", "F", {{"audience", "club.test"}});
  put("p3", 102, "POST", "D", {{"issuerTag", "bob.test"}});
  put("c1", 103, "CMNT", "P", {{"parentId", "p1"}, {"rootId", "p1"}});
  put("c2", 104, "CMNT", "P", {{"parentId", "c1"}, {"rootId", "p1"}, {"status", "D"}});
  put("m1", 105, "MSG", "C", {{"subType", "DM"}});
  auto ids = [&](const json& f) {
    std::vector<std::string> v;
    json r = list_actions(kA, f);  // a named result: the loop must not outlive it
    for (auto& a : r["actions"]) v.push_back(a["actionId"]);
    return v;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({{"visibility", {"P", "F"}}}), (V{"c2", "c1", "p2", "p1"}));
  EXPECT_EQ(ids({{"type", {"POST"}}}), (V{"p3", "p2", "p1"}));
  EXPECT_EQ(ids({{"type", {"CMNT", "MSG"}}}), (V{"m1", "c2", "c1"}));
  EXPECT_EQ(ids({{"issuerTag", "bob.test"}}), (V{"p3"}));
  EXPECT_EQ(ids({{"parentId", "p1"}}), (V{"c1"}));
  EXPECT_EQ(ids({{"rootId", "p1"}}), (V{"c2", "c1"}));
  EXPECT_EQ(ids({{"audience", "club.test"}}), (V{"p2"}));
  EXPECT_EQ(ids({{"status", {"D"}}}), (V{"c2"}));
  EXPECT_EQ(ids({{"before", 102}}), (V{"p2", "p1"}));
  EXPECT_EQ(ids({{"type", {"POST"}}, {"visibility", {"P", "F"}}, {"before", 101}}), (V{"p1"}));
  EXPECT_TRUE(ids({{"type", {"NOPE"}}}).empty());
  EXPECT_EQ(code_of([&] { list_actions(kA, {{"limit", "ten"}}); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { list_actions(kA, {{"cursor", "garbage"}}); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { list_actions(kA, {{"type", 5}}); }), CM_INVALID);
}

TEST_P(MetaDataConformance, ActionsIsolatedPerTenant) {
  NEED(actions);
  put_action(kA, action("only-a", 1));
  EXPECT_EQ(code_of([&] { get_action(kB, "only-a"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { update_action(kB, "only-a", R"({"status":"D"})"); }), CM_NOT_FOUND);
  EXPECT_TRUE(list_actions(kB, json::object())["actions"].empty());
  put_action(kB, action("only-a", 2));  // same id in another tenant: no conflict
  EXPECT_EQ(get_action(kA, "only-a")["createdAt"], 1);
  EXPECT_EQ(get_action(kB, "only-a")["createdAt"], 2);
}

TEST_P(MetaDataConformance, ActionsUnicodeEmptyAndLargeContent) {
  NEED(actions);
  json u = action("u1", 1);
  u["content"] = {{"text", "Ünïcødé ✓ 日本語 🎉 \"quotes\" \\ \n\t\u0001"}};
  put_action(kA, u);
  EXPECT_EQ(get_action(kA, "u1")["content"], u["content"]);
  for (const json& c : {json::object(), json(""), json::array(), json(0)}) {
    json e = action("e" + c.dump(), 2);
    e["content"] = c;
    put_action(kA, e);
    EXPECT_EQ(get_action(kA, e["actionId"])["content"], c);
  }
  // 1 MiB of content JSON.
  json big = action("big", 3);
  big["content"] = {{"text", std::string(1 << 20, 'y')}, {"list", json::array()}};
  for (int i = 0; i < 1000; ++i) big["content"]["list"].push_back(i);
  put_action(kA, big);
  EXPECT_EQ(get_action(kA, "big")["content"], big["content"]);
  EXPECT_EQ(list_actions(kA, {{"limit", 1}})["actions"][0]["content"]["text"].get<std::string>().size(), size_t{1} << 20);
}

TEST_P(MetaDataConformance, ActionsBadInputIsInvalidWithMessage) {
  NEED(actions);
  auto raw_put = [&](const std::string& text) {
    auto c = kA.c();
    return outcome([&] { out("put_action", [&](const cm_sink* o, cm_error* e) { return vt().actions->put_action(self(), &c, s(text), o, e); }); });
  };
  EXPECT_EQ(raw_put("{not json").code, CM_INVALID);
  EXPECT_EQ(raw_put("").code, CM_INVALID);
  json a = action("x", 1);
  for (const char* required : {"actionId", "type", "issuerTag", "createdAt"}) {
    json b = a;
    b.erase(required);
    auto o = raw_put(b.dump());
    EXPECT_EQ(o.code, CM_INVALID) << required;
    EXPECT_NE(o.message.find(required), std::string::npos) << o.message;
  }
  json wrong = a;
  wrong["createdAt"] = "yesterday";
  EXPECT_EQ(raw_put(wrong.dump()).code, CM_INVALID);
  EXPECT_EQ(code_of([&] { update_action(kA, "x", "{nope"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { push_inbound(kA, {{"token", "t"}}); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { push_inbound(kA, {{"actionId", "a"}}); }), CM_INVALID);
}

TEST_P(MetaDataConformance, InboundQueueDedupOrderAndIsolation) {
  NEED(actions);
  for (int i = 0; i < 5; ++i) push_inbound(kA, {{"actionId", "in" + std::to_string(i)}, {"token", "tok" + std::to_string(i)}, {"receivedAt", 100 + i}});
  push_inbound(kA, {{"actionId", "in2"}, {"token", "dup"}});  // re-delivery: no-op
  push_inbound(kB, {{"actionId", "in0"}, {"token", "b-tok"}, {"ackToken", "ack"}});
  json first = pop_inbound(kA, 3);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0]["actionId"], "in0");
  EXPECT_EQ(first[2]["actionId"], "in2");
  EXPECT_EQ(first[2]["token"], "tok2");
  json rest = pop_inbound(kA, 10);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[1]["actionId"], "in4");
  EXPECT_TRUE(pop_inbound(kA, 10).empty());
  json b = pop_inbound(kB, 0);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]["ackToken"], "ack");
}

TEST_P(MetaDataConformance, InboundPopIsAtomicUnderConcurrency) {
  NEED(actions);
  for (int i = 0; i < 200; ++i) push_inbound(kA, {{"actionId", "q" + std::to_string(i)}, {"token", "t"}});
  std::mutex mu;
  std::vector<std::string> got;
  std::vector<std::thread> ths;
  for (int t = 0; t < 6; ++t)
    ths.emplace_back([&] {
      for (;;) {
        json batch = pop_inbound(kA, 7);
        if (batch.empty()) return;
        std::lock_guard lk(mu);
        for (auto& e : batch) got.push_back(e["actionId"]);
      }
    });
  for (auto& th : ths) th.join();
  EXPECT_EQ(got.size(), 200u);  // nothing lost
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 200u);  // nothing twice
}

TEST_P(MetaDataConformance, ConcurrentActionInsertsGiveExactCounts) {
  NEED(actions);
  std::atomic<int> errors{0};
  std::vector<std::thread> ths;
  for (int t = 0; t < 8; ++t)
    ths.emplace_back([&, t] {
      const TenantRef& tn = t % 2 ? kB : kA;
      for (int i = 0; i < 60; ++i) {
        try {
          put_action(tn, action("t" + std::to_string(t) + "-" + std::to_string(i), i));
          if (i % 10 == 0) list_actions(tn, {{"limit", 20}});  // readers alongside
        } catch (...) {
          ++errors;
        }
      }
    });
  for (auto& th : ths) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(list_all_actions(kA, json::object(), 500).size(), 240u);
  EXPECT_EQ(list_all_actions(kB, json::object(), 500).size(), 240u);
}

// ---- files ----------------------------------------------------------------------

TEST_P(MetaDataConformance, FilesPutGetUpdateByBothIds) {
  NEED(files);
  json pending = put_file(kA, file("photo ✓.png", "P"));
  ASSERT_TRUE(pending["fId"].is_number_integer());
  std::string at = "@" + std::to_string(pending["fId"].get<int64_t>());
  EXPECT_EQ(get_file(kA, at)["fileName"], "photo ✓.png");
  EXPECT_FALSE(get_file(kA, at).contains("fileId"));
  update_file(kA, at, R"({"fileId":"f1~abc","status":"A","tags":["holiday","2025"]})");
  json f = get_file(kA, "f1~abc");
  EXPECT_EQ(f["fId"], pending["fId"]);
  EXPECT_EQ(f["status"], "A");
  EXPECT_EQ(f["contentType"], "image/png");  // untouched
  EXPECT_EQ(code_of([&] { update_file(kA, "f1~abc", R"({"fId":12345})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { update_file(kA, "f1~abc", R"({"status":"Z"})"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { get_file(kB, "f1~abc"); }), CM_NOT_FOUND);  // isolation
  EXPECT_EQ(code_of([&] { get_file(kB, at); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { update_file(kB, at, R"({"status":"D"})"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { get_file(kA, "f1~missing"); }), CM_NOT_FOUND);
  json dup = file("dup.png");
  dup["fileId"] = "f1~abc";
  EXPECT_EQ(code_of([&] { put_file(kA, dup); }), CM_CONFLICT);
  put_file(kB, dup);  // same fileId in another tenant is fine
  for (const char* bad : {R"({"status":"A","ownerTag":"a"})", R"({"fileType":"DOC","status":"A","ownerTag":"a"})", R"({"fileType":"BLOB","status":"A"})",
                          R"({"fileType":"BLOB","status":"A","ownerTag":"a","tags":"x"})", "{bad json"}) {
    auto c = kA.c();
    auto o = outcome([&] { out("put_file", [&](const cm_sink* sk, cm_error* e) { return vt().files->put_file(self(), &c, s(bad), sk, e); }); });
    EXPECT_EQ(o.code, CM_INVALID) << bad;
    EXPECT_FALSE(o.message.empty());
  }
}

TEST_P(MetaDataConformance, FilesListFiltersAndPaging) {
  NEED(files);
  for (int i = 0; i < 12; ++i) {
    json f = file("doc-" + std::to_string(i) + (i % 3 == 0 ? "-report.pdf" : ".png"), i < 10 ? "A" : "D");
    f["fileId"] = "f1~" + std::to_string(i);
    if (i % 2) f["parentId"] = "f1~folder";
    if (i % 4 == 0) f["tags"] = {"work", "t" + std::to_string(i)};
    if (i == 11) f["fileType"] = "CRDT";
    put_file(kA, f);
  }
  auto ids = [&](const json& flt) {
    std::vector<std::string> v;
    json r = list_files(kA, flt);
    for (auto& f : r["files"]) v.push_back(f["fileId"]);
    return v;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({{"tag", "work"}}), (V{"f1~8", "f1~4", "f1~0"}));  // newest first
  EXPECT_EQ(ids({{"status", "D"}}), (V{"f1~11", "f1~10"}));
  EXPECT_EQ(ids({{"fileType", "CRDT"}}), (V{"f1~11"}));
  EXPECT_EQ(ids({{"q", "report"}}), (V{"f1~9", "f1~6", "f1~3", "f1~0"}));
  EXPECT_EQ(ids({{"parentId", "f1~folder"}, {"status", "A"}}).size(), 5u);
  EXPECT_EQ(ids({{"q", "100%"}}), V{});  // LIKE wildcards are literal
  std::vector<std::string> all;
  json flt = {{"limit", 5}};
  for (;;) {
    json r = list_files(kA, flt);
    for (auto& f : r["files"]) all.push_back(f["fileId"]);
    if (r["cursor"].is_null()) break;
    flt["cursor"] = r["cursor"];
  }
  EXPECT_EQ(all.size(), 12u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 12u);
  EXPECT_TRUE(list_files(kB, json::object())["files"].empty());
}

TEST_P(MetaDataConformance, FileVariantsUpsertAndList) {
  NEED(files);
  json f = file("pic.jpg");
  f["fileId"] = "f1~pic";
  json stored = put_file(kA, f);
  put_variant(kA, {{"fileId", "f1~pic"}, {"variant", "vis.sd"}, {"variantId", "b1~sd"}, {"resX", 720}, {"resY", 480}, {"format", "webp"}, {"size", 1234}, {"available", true}});
  put_variant(kA, {{"fId", stored["fId"]}, {"variant", "vis.tn"}, {"variantId", "b1~tn"}, {"resX", 128}, {"resY", 128}});
  put_variant(kA, {{"fileId", "f1~pic"}, {"variant", "vis.sd"}, {"variantId", "b1~sd2"}, {"resX", 720}, {"resY", 480}, {"duration", 1.5}});  // upsert
  json vs = list_variants(kA, "f1~pic");
  ASSERT_EQ(vs.size(), 2u);
  EXPECT_EQ(vs[0]["variant"], "vis.sd");
  EXPECT_EQ(vs[0]["variantId"], "b1~sd2");
  EXPECT_EQ(vs[0]["duration"], 1.5);
  EXPECT_EQ(vs[1]["variant"], "vis.tn");
  EXPECT_EQ(list_variants(kA, "@" + std::to_string(stored["fId"].get<int64_t>())).size(), 2u);
  EXPECT_EQ(code_of([&] { list_variants(kB, "f1~pic"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { put_variant(kB, {{"fileId", "f1~pic"}, {"variant", "vis.sd"}, {"variantId", "b1~evil"}}); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { put_variant(kA, {{"fileId", "f1~pic"}, {"variantId", "b1~x"}}); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { put_variant(kA, {{"variant", "vis.hd"}, {"variantId", "b1~x"}}); }), CM_INVALID);
  EXPECT_EQ(list_variants(kA, "f1~pic")[0]["variantId"], "b1~sd2");  // B's attempt changed nothing
}

INSTANTIATE_TEST_SUITE_P(MetaData, MetaDataConformance, ::testing::ValuesIn(adapters_of(CM_KIND_META)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(MetaDataConformance);

}  // namespace
}  // namespace cumulo::conformance
