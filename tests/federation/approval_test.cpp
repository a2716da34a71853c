// Conformance scenarios 23-24 (spec/actions-federation.md §18, §2.10,
// §7.3, §11.5): auto-approval of a connection's post and its relay to the
// approver's followers, and a smuggled related token.
#include "federation/scenario_helpers.hpp"
#include "identity/action_token.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

namespace {

struct Approved {
  std::string post, aprv, aprv_token;
};

// 23's setup and stimulus: alice auto-approves, alice ↔ bob connected,
// carol follows alice only; bob posts on alice's wall.
Approved auto_approved_post(Federation& f) {
  Approved out;
  auto r = f.call("alice.test", "PUT", "/api/settings/profile.auto_approve_actions", {{"value", true}});
  EXPECT_EQ(r.status, 200u) << r.body;
  make_connected(f, "alice.test", "bob.test");
  follow(f, "carol.test", "alice.test");
  auto post = f.create("bob.test", {{"type", "POST"}, {"audienceTag", "alice.test"}, {"content", "for alice's wall"}});
  out.post = id_of(post);
  EXPECT_EQ(claims_of(post["token"])["aud"], "alice.test");
  EXPECT_TRUE(f.wait_stored("alice.test", out.post, "A")) << "alice should store bob's POST at A";
  EXPECT_TRUE(eventually([&] { return !f.list("alice.test", {{"type", "APRV"}, {"subject", out.post}}).empty(); }));
  auto aprvs = f.list("alice.test", {{"type", "APRV"}, {"subject", out.post}});
  if (aprvs.size() != 1) {
    ADD_FAILURE() << "expected one APRV on alice: " << aprvs.dump();
    return out;
  }
  out.aprv = aprvs[0].value("actionId", "");
  out.aprv_token = f.stored("alice.test", out.aprv).value("token", "");
  return out;
}

}  // namespace

// 23. Auto-approval: alice approves bob's post to her wall; the APRV goes
// to bob and, with the post bundled, to alice's follower carol, who stores
// both although she does not follow bob.
TEST(FederationApproval, AutoApprovalRelaysToFollowers) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  auto a = auto_approved_post(f);
  ASSERT_FALSE(a.aprv.empty());
  auto cl = claims_of(a.aprv_token);
  EXPECT_EQ(cl["iss"], "alice.test");
  EXPECT_EQ(cl["t"], "APRV");
  EXPECT_EQ(cl["aud"], "bob.test");
  EXPECT_EQ(cl["sub"], a.post);
  EXPECT_EQ(cl["v"], "F");
  EXPECT_FALSE(cl.contains("c"));

  // bob: the APRV arrives, his POST is (still) A.
  ASSERT_TRUE(f.wait_stored("bob.test", a.aprv, "A")) << "APRV never reached bob";
  EXPECT_EQ(f.stored("bob.test", a.post).value("status", ""), "A");
  // carol: the APRV and the bundled POST, though she does not follow bob.
  ASSERT_TRUE(f.wait_stored("carol.test", a.aprv, "A")) << "APRV never reached carol";
  ASSERT_TRUE(f.wait_stored("carol.test", a.post, "A")) << "the related POST was not stored on carol";
  auto p = f.profile("carol.test", "bob.test");
  EXPECT_TRUE(p.is_null() || (!p.value("following", false) && p.value("connected", json(false)) != json(true)));
  EXPECT_EQ(f.stored("carol.test", a.post)["issuerTag"], "bob.test");
  EXPECT_TRUE(f.settle());
  EXPECT_TRUE(gets_task(f, "alice.test", "delivery:" + a.aprv + ":", ":carol.test"));
  EXPECT_TRUE(gets_task(f, "alice.test", "delivery:" + a.aprv + ":", ":bob.test"));
  // Exactly one approval: the relayed copies do not approve again.
  EXPECT_EQ(f.list("alice.test", {{"type", "APRV"}}).size(), 1u);
  EXPECT_TRUE(f.list("carol.test", {{"type", "APRV"}, {"issuerTag", "carol.test"}}).empty());
}

// 24. carol's node re-posts alice's APRV to bob with a carol POST as
// "related": the APRV is processed, the smuggled POST is not stored.
TEST(FederationApproval, SmuggledRelatedTokenIsIgnored) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  auto a = auto_approved_post(f);
  ASSERT_FALSE(a.aprv.empty());
  ASSERT_TRUE(f.wait_stored("carol.test", a.aprv, "A"));
  ASSERT_TRUE(f.wait_stored("bob.test", a.aprv, "A"));
  auto mine = f.create("carol.test", {{"type", "POST"}, {"content", "smuggled"}});
  const std::string smuggled = id_of(mine);

  // The exact APRV token as carol's node holds it, re-posted to bob.
  const std::string relayed = f.stored("carol.test", a.aprv).value("token", "");
  ASSERT_EQ(relayed, a.aprv_token);
  auto r = f.inbox("bob.test", relayed, {mine["token"].get<std::string>()});
  EXPECT_EQ(r.status, 201u) << r.body;
  r = f.inbox("bob.test", relayed, {mine["token"].get<std::string>()}, true);
  EXPECT_EQ(r.status, 201u) << r.body;

  // A fresh APRV bob has never seen (alice's key, bob's POST), bundled with
  // carol's POST next to the approved one: only the bound token counts.
  auto post2 = f.create("bob.test", {{"type", "POST"}, {"audienceTag", "alice.test"}, {"content", "second"}});
  auto fresh = sign_as(f.node("alice.test").app(), "alice.test", {{"t", "APRV"}, {"sub", id_of(post2)}, {"aud", "bob.test"}, {"v", "F"}});
  r = f.inbox("bob.test", fresh, {mine["token"].get<std::string>(), post2["token"].get<std::string>()}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_TRUE(f.settle());
  auto fresh_id = cumulo::identity::parse_action_token(fresh)->id();
  EXPECT_EQ(f.stored("bob.test", fresh_id).value("status", ""), "A") << "the APRV itself is processed";
  EXPECT_TRUE(f.stored("bob.test", smuggled).is_null()) << "carol's POST was smuggled in";
  EXPECT_TRUE(f.list("bob.test", {{"issuerTag", "carol.test"}}).empty());
  // Directly, carol's POST is refused too (bob does not follow carol).
  r = f.inbox("bob.test", mine["token"].get<std::string>(), {}, true);
  EXPECT_EQ(r.status, 403u) << r.body;
}
