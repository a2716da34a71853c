// Conformance scenarios 10-13 and 15 (spec/actions-federation.md §18,
// §11.1-11.2): connection request, accept, forged acceptance, mutual CONN,
// unfollow — plus the FSHR share lifecycle (§11.4; file access itself is
// out of scope here).
#include "federation/scenario_helpers.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

// 10 + 11: a request rests at C; accepting it connects both sides.
TEST(FederationRelationships, ConnectionRequestThenAccept) {
  Federation f({"alice.test", "bob.test"});
  auto conn = f.create("alice.test", {{"type", "CONN"}, {"audienceTag", "bob.test"}, {"content", "hi"}});
  const std::string cid = id_of(conn);
  // 10. bob holds the request at C; alice became bob's follower; alice's
  // profile of bob shows the pending request.
  ASSERT_TRUE(f.wait_stored("bob.test", cid, "C")) << "CONN never rested at C on bob";
  EXPECT_EQ(f.stored("bob.test", cid)["content"], "hi");
  EXPECT_TRUE(wait_profile(f, "bob.test", "alice.test", "follower", true));
  EXPECT_NE(f.profile("bob.test", "alice.test").value("connected", json(false)), json(true));
  auto mine = f.profile("alice.test", "bob.test");
  EXPECT_EQ(mine.value("connected", json(nullptr)), "R") << mine.dump();
  EXPECT_EQ(mine.value("following", false), true);
  // It is a pending notification: listed with status C.
  auto pending = json::parse(f.call("bob.test", "GET", "/api/actions?type=CONN&status=C").body)["data"];
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0]["actionId"], cid);

  // 11. bob accepts: the request becomes A, CONN:ACC reaches alice.
  auto r = f.call("bob.test", "POST", "/api/actions/" + cid + "/accept");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(f.stored("bob.test", cid).value("status", ""), "A");
  auto acc = f.list("bob.test", {{"type", "CONN"}, {"issuerTag", "bob.test"}});
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].value("subType", ""), "ACC");
  EXPECT_EQ(acc[0].value("audience", ""), "alice.test");
  const std::string acc_id = acc[0].value("actionId", "");
  ASSERT_TRUE(f.wait_stored("alice.test", acc_id, "A")) << "CONN:ACC never accepted on alice";
  EXPECT_TRUE(wait_profile(f, "alice.test", "bob.test", "connected", true));
  EXPECT_TRUE(wait_profile(f, "bob.test", "alice.test", "connected", true));
  EXPECT_EQ(f.stored("alice.test", cid).value("status", ""), "A");  // alice's own request
}

// 12. An acceptance nobody asked for rests at D and connects nothing.
TEST(FederationRelationships, ForgedAcceptanceIsIgnored) {
  Federation f({"bob.test", "carol.test"});
  auto acc = f.create("carol.test", {{"type", "CONN"}, {"subType", "ACC"}, {"audienceTag", "bob.test"}});
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(acc), "D")) << "the forged CONN:ACC should rest at D on bob";
  EXPECT_TRUE(f.settle());
  EXPECT_EQ(f.stored("bob.test", id_of(acc)).value("status", ""), "D");
  auto p = f.profile("bob.test", "carol.test");
  EXPECT_TRUE(p.is_null() || p.value("connected", json(false)) != json(true)) << p.dump();
  EXPECT_TRUE(p.is_null() || !p.value("follower", false)) << p.dump();
  // Not listed among bob's connections or notifications.
  auto listed = json::parse(f.call("bob.test", "GET", "/api/actions?type=CONN").body)["data"];
  EXPECT_TRUE(listed.empty()) << listed.dump();
}

// 13. Both sides send CONN before either accepts: connected without any
// user action; each request rests at A.
TEST(FederationRelationships, MutualConnectionNeedsNoAcceptance) {
  Federation f({"alice.test", "bob.test"});
  auto a2b = f.create("alice.test", {{"type", "CONN"}, {"audienceTag", "bob.test"}});
  auto b2a = f.create("bob.test", {{"type", "CONN"}, {"audienceTag", "alice.test"}});
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(a2b), "A")) << "alice's request should end at A on bob";
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(b2a), "A")) << "bob's request should end at A on alice";
  EXPECT_TRUE(wait_profile(f, "alice.test", "bob.test", "connected", true));
  EXPECT_TRUE(wait_profile(f, "bob.test", "alice.test", "connected", true));
  EXPECT_TRUE(f.settle());
  // Nothing left waiting for a decision, on either side.
  for (const auto* n : {"alice.test", "bob.test"}) {
    auto pending = json::parse(f.call(n, "GET", "/api/actions?type=CONN&status=C").body)["data"];
    EXPECT_TRUE(pending.empty()) << n << ": " << pending.dump();
  }
  EXPECT_EQ(f.stored("bob.test", id_of(a2b)).value("status", ""), "A");
  EXPECT_EQ(f.stored("alice.test", id_of(b2a)).value("status", ""), "A");
}

// 15. Unfollow: FLLW:DEL supersedes the FLLW on alice's node, clears the
// follower flag, and alice's next post is not delivered to bob.
TEST(FederationRelationships, UnfollowStopsDelivery) {
  Federation f({"alice.test", "bob.test"});
  auto fl = f.create("bob.test", {{"type", "FLLW"}, {"audienceTag", "alice.test"}});
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(fl), "A"));
  ASSERT_TRUE(wait_profile(f, "alice.test", "bob.test", "follower", true));
  auto p1 = f.create("alice.test", {{"type", "POST"}, {"content", "before"}});
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(p1), "A"));

  auto unf = f.create("bob.test", {{"type", "FLLW"}, {"subType", "DEL"}, {"audienceTag", "alice.test"}});
  EXPECT_EQ(f.stored("bob.test", id_of(fl)).value("status", ""), "D") << "bob's own FLLW is superseded";
  EXPECT_EQ(f.profile("bob.test", "alice.test").value("following", true), false);
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(unf), "A")) << "FLLW:DEL never arrived";
  EXPECT_EQ(f.stored("alice.test", id_of(fl)).value("status", ""), "D") << "the FLLW is superseded on alice";
  EXPECT_TRUE(wait_profile(f, "alice.test", "bob.test", "follower", false));
  auto active = f.list("alice.test", {{"key", "FLLW:bob.test:alice.test"}});
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0]["actionId"], id_of(unf));

  auto p2 = f.create("alice.test", {{"type", "POST"}, {"content", "after"}});
  EXPECT_TRUE(f.settle());
  EXPECT_TRUE(task_keys(f, "alice.test", "delivery:" + id_of(p2) + ":").empty());
  EXPECT_TRUE(f.stored("bob.test", id_of(p2)).is_null());
}

// FSHR (§11.4, without file access): rests at C on the recipient,
// accept → A, FSHR:DEL supersedes it.
TEST(FederationRelationships, FileShareLifecycle) {
  Federation f({"alice.test", "bob.test"});
  make_connected(f, "alice.test", "bob.test");
  const std::string file = "f1~Shared-file-id-for-the-federation-test-0000";
  json c = {{"contentType", "text/plain"}, {"fileName", "notes.txt"}, {"fileTp", "BLOB"}};
  auto share = f.create("alice.test", {{"type", "FSHR"}, {"audienceTag", "bob.test"}, {"subject", file}, {"content", c}});
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(share), "C")) << "FSHR should rest at C on bob";
  auto r = f.call("bob.test", "POST", "/api/actions/" + id_of(share) + "/accept");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(f.stored("bob.test", id_of(share)).value("status", ""), "A");

  auto del = f.create("alice.test", {{"type", "FSHR"}, {"subType", "DEL"}, {"audienceTag", "bob.test"}, {"subject", file}});
  EXPECT_EQ(f.stored("alice.test", id_of(share)).value("status", ""), "D");
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(del), "A")) << "FSHR:DEL never arrived";
  EXPECT_EQ(f.stored("bob.test", id_of(share)).value("status", ""), "D") << "FSHR:DEL supersedes the share";
  auto left = f.list("bob.test", {{"type", "FSHR"}, {"status", json::array({"A", "C"})}});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["actionId"], id_of(del));
}
