// Conformance scenarios 1-3, 6 (spec/actions-federation.md §18): token
// shape, follow, broadcast POST, idempotent re-delivery — between two
// hosts on loopback over TLS.
#include "federation/federation.hpp"
#include "federation/scenario_helpers.hpp"

#include "identity/base64url.hpp"
#include "identity/content_id.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

TEST(Federation, FollowThenBroadcastPost) {
  Federation f({"alice.test", "bob.test"});
  // 1. Token shape.
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "hi"}});
  const std::string id = post["actionId"];
  const std::string tok = post["token"];
  EXPECT_EQ(id.size(), 46u);
  EXPECT_EQ(id.rfind("a1~", 0), 0u);
  auto dot1 = tok.find('.'), dot2 = tok.rfind('.');
  auto header = json::parse(*cumulo::identity::base64url_decode(tok.substr(0, dot1)));
  EXPECT_EQ(header, json({{"typ", "JWT"}, {"alg", "ES384"}}));
  auto claims = json::parse(*cumulo::identity::base64url_decode(tok.substr(dot1 + 1, dot2 - dot1 - 1)));
  EXPECT_EQ(claims["iss"], "alice.test");
  EXPECT_EQ(claims["t"], "POST");
  EXPECT_EQ(claims["c"], "hi");
  EXPECT_TRUE(claims.contains("iat"));
  EXPECT_EQ(cumulo::identity::base64url_decode(tok.substr(dot2 + 1))->size(), 96u);
  auto me = json::parse(f.call("alice.test", "GET", "/api/me", nullptr, false).body)["data"];
  bool key_listed = false;
  for (const auto& k : me["keys"]) key_listed |= k["keyId"] == claims["k"];
  EXPECT_TRUE(key_listed);

  // 2. bob follows alice.
  auto fl = f.create("bob.test", {{"type", "FLLW"}, {"audienceTag", "alice.test"}});
  ASSERT_TRUE(f.wait_stored("alice.test", fl["actionId"], "A")) << "FLLW never arrived";
  EXPECT_EQ(f.profile("alice.test", "bob.test").value("follower", false), true);
  EXPECT_EQ(f.profile("bob.test", "alice.test").value("following", false), true);

  // 3. A broadcast post reaches the follower under the same id.
  auto p2 = f.create("alice.test", {{"type", "POST"}, {"content", "to my followers"}});
  ASSERT_TRUE(f.wait_stored("bob.test", p2["actionId"], "A"));
  auto tasks = f.tasks("alice.test", "delivery:" + p2["actionId"].get<std::string>() + ":");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0]["key"], "delivery:" + p2["actionId"].get<std::string>() + ":bob.test");
  auto feed = json::parse(f.call("bob.test", "GET", "/api/actions?type=POST").body)["data"];
  ASSERT_EQ(feed.size(), 1u);
  EXPECT_EQ(feed[0]["issuer"]["idTag"], "alice.test");

  // 6. Re-delivery of the exact token: 2xx, still one row.
  auto r = f.inbox("bob.test", p2["token"]);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_TRUE(f.settle());
  EXPECT_EQ(f.list("bob.test", {{"type", "POST"}}).size(), 1u);
}

// Blocking a sender takes effect on its very next action, and unblocking
// too: the engine caches profiles, and a profile write must empty the cache.
TEST(Federation, BlockingASenderTakesEffectAtOnce) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  auto p1 = f.create("alice.test", {{"type", "POST"}, {"content", "before"}});
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(p1), "A"));  // alice's profile is now in bob's cache

  auto r = f.call("bob.test", "PATCH", "/api/profiles/alice.test", {{"status", "B"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  auto p2 = f.create("alice.test", {{"type", "POST"}, {"content", "while blocked"}});
  r = f.inbox("bob.test", p2["token"], {}, true);
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_NE(r.body.find("blocked"), std::string::npos) << r.body;
  EXPECT_TRUE(f.stored("bob.test", id_of(p2)).is_null());
  // A replay of what bob accepted before the block is still known: 2xx,
  // though the same check now refuses her (the lookup comes after checks).
  r = f.inbox("bob.test", p1["token"], {}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(f.stored("bob.test", id_of(p1)).value("status", ""), "A");

  r = f.call("bob.test", "PATCH", "/api/profiles/alice.test", {{"status", nullptr}});
  ASSERT_EQ(r.status, 200u) << r.body;
  r = f.inbox("bob.test", p2["token"], {}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(f.stored("bob.test", id_of(p2)).value("status", ""), "A");
}
