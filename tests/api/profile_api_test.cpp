// /api/me*, /api/profiles* over real HTTP (spec/rest-api.md §2.2-2.3,
// core.md §3.2-3.3): shapes, ETag/304, auth failures, tenant isolation and
// the visibility of `x` sections.
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>

#include "api/api_support.hpp"
#include "identity/base64url.hpp"
#include "support/pg_test.hpp"

using namespace cumulo::test;
using namespace cumulo::test::api;

namespace {

const json kTwoTenants = {{"tenants", {{{"idTag", "bob.test"}}}}};

/// The curve of a base64 DER SPKI, or "" if it does not parse.
std::string curve_of(const std::string& b64) {
  const auto der = cumulo::identity::base64_decode(b64);
  if (!der) return "";
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size()));
  if (!k) return "";
  char name[64] = {};
  size_t len = 0;
  EVP_PKEY_get_group_name(k, name, sizeof name, &len);
  const bool whole = p == reinterpret_cast<const unsigned char*>(der->data()) + der->size();
  EVP_PKEY_free(k);
  return whole ? std::string(name, len) : "";
}

}  // namespace

TEST(ProfileApi, MeShapeEtagAndKeys) {
  TestHost h(kTwoTenants, builtin_plugins());
  auto r = call(h, "GET", "/api/me", "alice.test");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto j = body(r);
  const auto& d = j["data"];
  EXPECT_TRUE(j["time"].is_string());
  EXPECT_EQ(d["idTag"], "alice.test");
  EXPECT_EQ(d["name"], "Alice");
  EXPECT_EQ(d["type"], "person");
  EXPECT_FALSE(d.contains("profilePic"));  // absent fields are omitted
  EXPECT_FALSE(d.contains("x"));
  ASSERT_EQ(d["keys"].size(), 1u);
  const auto& key = d["keys"][0];
  EXPECT_EQ(key.size(), 2u) << key.dump();  // keyId, publicKey (no expiry)
  EXPECT_EQ(curve_of(key["publicKey"]), "secp384r1");
  const auto etag = r.headers["etag"];
  ASSERT_FALSE(etag.empty());

  // Conditional requests: exact, weak and listed tags match; others do not.
  for (const std::string& inm : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
    auto c = call(h, "GET", "/api/me", "alice.test", "", nullptr, {{"If-None-Match", inm}});
    EXPECT_EQ(c.status, 304) << inm;
    EXPECT_TRUE(c.body.empty());
    EXPECT_EQ(c.headers["etag"], etag);
  }
  EXPECT_EQ(call(h, "GET", "/api/me", "alice.test", "", nullptr, {{"If-None-Match", "\"stale\""}}).status, 200);

  // Each tenant has its own key and body, hence its own ETag.
  auto b = call(h, "GET", "/api/me", "bob.test");
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(body(b)["data"]["idTag"], "bob.test");
  EXPECT_NE(body(b)["data"]["keys"][0]["publicKey"], key["publicKey"]);
  EXPECT_NE(b.headers["etag"], etag);
  EXPECT_EQ(call(h, "GET", "/api/me", "nobody.test").status, 404);

  // /api/me/keys: the same keys with Unix-second metadata.
  auto k = call(h, "GET", "/api/me/keys", "alice.test");
  ASSERT_EQ(k.status, 200) << k.body;
  const auto keys = body(k)["data"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["keyId"], key["keyId"]);
  EXPECT_EQ(keys[0]["publicKey"], key["publicKey"]);
  EXPECT_TRUE(keys[0]["createdAt"].is_number_integer());
  EXPECT_GT(keys[0]["createdAt"].get<int64_t>(), 1700000000);
  EXPECT_TRUE(keys[0]["expiresAt"].is_null());
  EXPECT_EQ(keys[0]["keyType"], "signing");
}

TEST(ProfileApi, PatchMeChangesProfileAndEtag) {
  TestHost h(kTwoTenants, builtin_plugins());
  const auto owner = mint(h, "alice.test", "alice.test", {"SADM"});
  auto before = call(h, "GET", "/api/me", "alice.test");
  const auto etag = before.headers["etag"];

  auto p = call(h, "PATCH", "/api/me", "alice.test", owner, {{"name", "Alice Liddell"}, {"x", {{"bio", "Down the rabbit hole"}, {"site", "wonder.land"}}}});
  ASSERT_EQ(p.status, 200) << p.body;
  // Bare {profile: ProfileInfo}, no envelope.
  EXPECT_EQ(body(p), json({{"profile", {{"idTag", "alice.test"}, {"name", "Alice Liddell"}, {"type", "person"}}}}));

  auto after = call(h, "GET", "/api/me", "alice.test", "", nullptr, {{"If-None-Match", etag}});
  ASSERT_EQ(after.status, 200) << "the old ETag must not match after a change";
  EXPECT_EQ(body(after)["data"]["name"], "Alice Liddell");
  EXPECT_NE(after.headers["etag"], etag);

  // x merges key by key; null deletes.
  ASSERT_EQ(call(h, "PATCH", "/api/me", "alice.test", owner, {{"x", {{"site", nullptr}, {"pets", "Dinah"}}}}).status, 200);
  auto full = body(call(h, "GET", "/api/me/full", "alice.test", owner))["data"];
  EXPECT_EQ(full["x"], json({{"bio", "Down the rabbit hole"}, {"pets", "Dinah"}}));
  EXPECT_EQ(full["name"], "Alice Liddell");
  EXPECT_EQ(full["keys"].size(), 1u);

  // Validation.
  EXPECT_EQ(call(h, "PATCH", "/api/me", "alice.test", owner, {{"name", ""}}).status, 400);
  EXPECT_EQ(call(h, "PATCH", "/api/me", "alice.test", owner, {{"x", {{"n", 5}}}}).status, 400);
  EXPECT_EQ(call(h, "PATCH", "/api/me", "alice.test", owner, {{"x", "flat"}}).status, 400);
  EXPECT_EQ(body(call(h, "GET", "/api/me", "alice.test"))["data"]["name"], "Alice Liddell");
}

TEST(ProfileApi, PatchMeRefusesOthers) {
  TestHost h(kTwoTenants, builtin_plugins());
  const json patch = {{"name", "Mallory"}};
  auto anon = call(h, "PATCH", "/api/me", "bob.test", "", patch);
  EXPECT_EQ(anon.status, 403);
  EXPECT_EQ(error_code(anon), "E-AUTH-NOPERM");
  auto garbage = call(h, "PATCH", "/api/me", "bob.test", "not.a.jwt", patch);
  EXPECT_EQ(garbage.status, 401);
  EXPECT_EQ(error_code(garbage), "E-AUTH-UNAUTH");
  // Alice's own (even SADM) token is not valid on Bob's host.
  auto cross = call(h, "PATCH", "/api/me", "bob.test", mint(h, "alice.test", "alice.test", {"SADM"}), patch);
  EXPECT_EQ(cross.status, 401);
  EXPECT_EQ(error_code(cross), "E-AUTH-UNAUTH");
  // A visitor authenticated on Bob's host is not Bob.
  auto visitor = call(h, "PATCH", "/api/me", "bob.test", mint(h, "bob.test", "alice.test"), patch);
  EXPECT_EQ(visitor.status, 403);
  EXPECT_EQ(body(call(h, "GET", "/api/me", "bob.test"))["data"]["name"], "Bob");
  EXPECT_EQ(call(h, "PATCH", "/api/me", "bob.test", mint(h, "bob.test", "bob.test"), patch).status, 200);
  EXPECT_EQ(body(call(h, "GET", "/api/me", "bob.test"))["data"]["name"], "Mallory");
  EXPECT_EQ(body(call(h, "GET", "/api/me", "alice.test"))["data"]["name"], "Alice");
}

TEST(ProfileApi, PrivateXSectionsStayPrivate) {
  TestHost h(kTwoTenants, builtin_plugins());
  const auto alice = mint(h, "alice.test", "alice.test", {"SADM"}), bob = mint(h, "bob.test", "bob.test");
  const json x = {{"bio", "hello"},     {"private.phone", "555-1234"}, {"private.vis", "O"}, {"friends.note", "see you"},
                  {"friends.vis", "C"}, {"fans.news", "tour dates"},   {"fans.vis", "F"},    {"members.wiki", "wiki.example"},
                  {"members.vis", "V"}};
  ASSERT_EQ(call(h, "PATCH", "/api/me", "alice.test", alice, {{"x", x}}).status, 200);
  ASSERT_EQ(call(h, "PATCH", "/api/me", "bob.test", bob, {{"x", {{"private.diary", "secret"}, {"private.vis", "O"}, {"bio", "bob"}}}}).status, 200);

  auto x_seen = [&](const std::string& tenant, const std::string& token) {
    auto r = call(h, "GET", "/api/me/full", tenant, token);
    EXPECT_EQ(r.status, 200) << r.body;
    return body(r)["data"].value("x", json::object());
  };
  EXPECT_EQ(x_seen("alice.test", alice), x);  // the owner sees everything
  EXPECT_EQ(x_seen("alice.test", ""), json({{"bio", "hello"}}));
  EXPECT_EQ(x_seen("bob.test", ""), json({{"bio", "bob"}}));
  // Each tenant's token is invalid on the other's host: read as anonymous.
  EXPECT_EQ(x_seen("alice.test", bob), json({{"bio", "hello"}}));
  EXPECT_EQ(x_seen("bob.test", alice), json({{"bio", "bob"}}));

  // Bob as an authenticated visitor of Alice's host, then as a follower,
  // then as a connection: each tier widens what he sees, never "private".
  const auto visitor = mint(h, "alice.test", "bob.test");
  EXPECT_EQ(x_seen("alice.test", visitor), json({{"bio", "hello"}, {"members.wiki", "wiki.example"}}));
  auto sc = scope_of(h, "alice.test");
  sc.meta().upsert_profile(sc.ref(), json{{"idTag", "bob.test"}, {"name", "Bob"}, {"follower", true}}.dump());
  h.app().services().relationship_changed("bob.test");  // as the FLLW handler does after this write
  EXPECT_EQ(x_seen("alice.test", visitor), json({{"bio", "hello"}, {"members.wiki", "wiki.example"}, {"fans.news", "tour dates"}}));
  ASSERT_EQ(call(h, "PATCH", "/api/profiles/bob.test", "alice.test", alice, {{"connected", true}}).status, 200);
  EXPECT_EQ(x_seen("alice.test", visitor),
            json({{"bio", "hello"}, {"members.wiki", "wiki.example"}, {"fans.news", "tour dates"}, {"friends.note", "see you"}}));
}

// Relationship levels come from the ABAC resolver: cached per (tenant,
// idTag), dropped when PATCH /api/profiles changes the relationship.
TEST(ProfileApi, AbacRelationsCachedAndInvalidatedByPatch) {
  TestHost h(kTwoTenants, builtin_plugins());
  auto& svc = h.app().services();
  const auto alice = mint(h, "alice.test", "alice.test"), visitor = mint(h, "alice.test", "bob.test");
  ASSERT_EQ(call(h, "PATCH", "/api/me", "alice.test", alice, {{"x", {{"bio", "hi"}, {"fans.news", "tour"}, {"fans.vis", "F"}}}}).status, 200);
  auto x_seen = [&] { return body(call(h, "GET", "/api/me/full", "alice.test", visitor))["data"].value("x", json::object()); };
  ASSERT_EQ(call(h, "PATCH", "/api/profiles/bob.test", "alice.test", alice, {{"following", true}}).status, 200);
  EXPECT_EQ(x_seen(), json({{"bio", "hi"}}));
  const auto lookups = svc.relationship_lookups();
  EXPECT_EQ(x_seen(), json({{"bio", "hi"}}));
  EXPECT_EQ(svc.relationship_lookups(), lookups) << "a cached relation needs no profile lookup";

  // Blocking bob takes effect at once: no section, not even public ones, and no profiles.
  ASSERT_EQ(call(h, "PATCH", "/api/profiles/bob.test", "alice.test", alice, {{"status", "B"}}).status, 200);
  EXPECT_EQ(x_seen(), json::object());
  auto blocked = call(h, "GET", "/api/profiles/alice.test", "alice.test", visitor);
  EXPECT_EQ(blocked.status, 403);
  EXPECT_EQ(error_code(blocked), "E-AUTH-NOPERM");
  ASSERT_EQ(call(h, "PATCH", "/api/profiles/bob.test", "alice.test", alice, {{"status", "A"}}).status, 200);
  EXPECT_EQ(x_seen(), json({{"bio", "hi"}}));
  EXPECT_EQ(call(h, "GET", "/api/profiles/alice.test", "alice.test", visitor).status, 200);

  // A community role in the tenant's profile of bob makes him a leader:
  // he may then update the profile (the token alone does not say so).
  EXPECT_EQ(call(h, "PATCH", "/api/me", "alice.test", visitor, {{"name", "by bob"}}).status, 403);
  auto sc = scope_of(h, "alice.test");
  sc.meta().upsert_profile(sc.ref(), json{{"idTag", "bob.test"}, {"roles", {"leader"}}}.dump());
  svc.relationship_changed("bob.test");
  EXPECT_EQ(call(h, "PATCH", "/api/me", "alice.test", visitor, {{"name", "by bob"}}).status, 200);
  EXPECT_EQ(x_seen(), json({{"bio", "hi"}, {"fans.news", "tour"}, {"fans.vis", "F"}}));
}

TEST(ProfileApi, ProfilesListGetAndRelationships) {
  TestHost h(kTwoTenants, builtin_plugins());
  const auto alice = mint(h, "alice.test", "alice.test", {"SADM"});
  auto p = call(h, "PATCH", "/api/profiles/bob.test", "alice.test", alice, {{"following", true}, {"status", "A"}});
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_TRUE(p.body.empty());
  ASSERT_EQ(call(h, "PATCH", "/api/profiles/carol.test", "alice.test", alice, {{"status", "M"}, {"trust", "never"}}).status, 200);
  EXPECT_EQ(call(h, "PATCH", "/api/profiles/carol.test", "alice.test", alice, {{"status", "Q"}}).status, 400);
  EXPECT_EQ(call(h, "PATCH", "/api/profiles/carol.test", "alice.test", alice, {{"relationship", "follow"}}).status, 400);
  EXPECT_EQ(call(h, "PATCH", "/api/profiles/alice.test", "alice.test", alice, {{"status", "A"}}).status, 400);
  EXPECT_EQ(call(h, "PATCH", "/api/profiles/carol.test", "alice.test", "", {{"status", "B"}}).status, 403);

  auto ids = [](const Resp& r) {
    std::vector<std::string> out;
    const json j = body(r);  // named: the range must not dangle
    for (const auto& item : j["data"]) out.push_back(item["idTag"].get<std::string>());
    return out;
  };
  auto all = call(h, "GET", "/api/profiles", "alice.test", alice);
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(ids(all), (std::vector<std::string>{"bob.test", "carol.test"}));
  EXPECT_EQ(body(all)["cursorPagination"]["hasMore"], false);
  EXPECT_EQ(ids(call(h, "GET", "/api/profiles?following=true", "alice.test", alice)), std::vector<std::string>{"bob.test"});
  EXPECT_EQ(ids(call(h, "GET", "/api/profiles?q=car", "alice.test", alice)), std::vector<std::string>{"carol.test"});
  EXPECT_EQ(ids(call(h, "GET", "/api/profiles?status=M,B", "alice.test", alice)), std::vector<std::string>{"carol.test"});
  EXPECT_EQ(call(h, "GET", "/api/profiles?status=Z", "alice.test", alice).status, 400);
  EXPECT_EQ(ids(call(h, "GET", "/api/profiles?type=community", "alice.test", alice)), std::vector<std::string>{});
  auto page = call(h, "GET", "/api/profiles?limit=1", "alice.test", alice);
  EXPECT_EQ(ids(page), std::vector<std::string>{"bob.test"});
  ASSERT_EQ(body(page)["cursorPagination"]["hasMore"], true);
  const std::string cursor = body(page)["cursorPagination"]["nextCursor"];
  EXPECT_EQ(ids(call(h, "GET", "/api/profiles?limit=1&cursor=" + cursor, "alice.test", alice)), std::vector<std::string>{"carol.test"});

  auto bob = body(call(h, "GET", "/api/profiles/bob.test", "alice.test", alice))["data"];
  EXPECT_EQ(bob["idTag"], "bob.test");
  EXPECT_EQ(bob["following"], true);
  EXPECT_EQ(bob["status"], "A");
  EXPECT_EQ(bob["type"], "person");
  auto me = body(call(h, "GET", "/api/profiles/alice.test", "alice.test", alice))["data"];
  EXPECT_EQ(me, json({{"idTag", "alice.test"}, {"name", "Alice"}, {"type", "person"}}));
  EXPECT_EQ(call(h, "GET", "/api/profiles/nobody.test", "alice.test", alice).status, 404);
  EXPECT_EQ(call(h, "GET", "/api/profiles", "alice.test").status, 403);

  // A visitor sees public profile data only, and may not filter by relationship.
  const auto visitor = mint(h, "alice.test", "carol.test");
  EXPECT_EQ(call(h, "GET", "/api/profiles?following=true", "alice.test", visitor).status, 403);
  auto seen = body(call(h, "GET", "/api/profiles/bob.test", "alice.test", visitor))["data"];
  EXPECT_FALSE(seen.contains("following")) << seen.dump();
  // Bob's tenant has its own, empty, view.
  EXPECT_EQ(ids(call(h, "GET", "/api/profiles", "bob.test", mint(h, "bob.test", "bob.test"))), std::vector<std::string>{});
}

// The same routes over a tenant whose meta and auth live in PostgreSQL.
TEST(ProfileApi, OnPostgresProfile) {
  namespace pg = cumulo::test::pg;
  if (auto why = pg::skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string ci = pg::conninfo();
  const std::string meta_schema = pg::unique_schema("apimeta"), auth_schema = pg::unique_schema("apiauth");
  struct Drop {
    std::string ci, a, b;
    ~Drop() {
      pg::drop_schema(ci, a);
      pg::drop_schema(ci, b);
    }
  } drop{ci, meta_schema, auth_schema};
  const json cfg = {{"profiles",
                     {{"pg",
                       {{"meta", {{"factory", "meta-postgres"}, {"options", {{"conninfo", ci}, {"schema", meta_schema}}}}},
                        {"auth", {{"factory", "auth-postgres"}, {"options", {{"conninfo", ci}, {"schema", auth_schema}, {"bcryptCost", 4}}}}},
                        {"blob", {{"factory", "blob-fs"}, {"options", {{"dir", "${DATA_DIR}/pg/blob"}}}}}}}}},
                    {"tenants", {{{"idTag", "dave.test"}, {"profile", "pg"}}}}};
  TestHost h(cfg, builtin_plugins());
  const auto dave = mint(h, "dave.test", "dave.test");
  auto me = call(h, "GET", "/api/me", "dave.test");
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(curve_of(body(me)["data"]["keys"][0]["publicKey"]), "secp384r1");
  ASSERT_EQ(call(h, "PATCH", "/api/me", "dave.test", dave, {{"name", "David"}, {"x", {{"bio", "pg"}, {"private.a", "b"}, {"private.vis", "O"}}}}).status, 200);
  auto again = call(h, "GET", "/api/me", "dave.test", "", nullptr, {{"If-None-Match", me.headers["etag"]}});
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(body(again)["data"]["name"], "David");
  EXPECT_EQ(body(call(h, "GET", "/api/me/full", "dave.test"))["data"]["x"], json({{"bio", "pg"}}));
  EXPECT_EQ(body(call(h, "GET", "/api/me/full", "dave.test", dave))["data"]["x"].size(), 3u);
  ASSERT_EQ(call(h, "PATCH", "/api/profiles/alice.test", "dave.test", dave, {{"following", true}}).status, 200);
  auto list = body(call(h, "GET", "/api/profiles?following=true", "dave.test", dave))["data"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["idTag"], "alice.test");
  EXPECT_EQ(pg::query(ci, "SELECT count(*) FROM \"" + meta_schema + "\".profiles"), "1");
}
