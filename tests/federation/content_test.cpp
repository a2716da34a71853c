// Conformance scenarios 3 (bus part), 16-18 and the post deletion
// (spec/actions-federation.md §18, §2.4-2.5, §2.8): comments, reactions and
// the owner's STAT mirrored on followers, the reaction flag gate, and
// POST:DEL federating.
#include "federation/bus_listener.hpp"
#include "federation/scenario_helpers.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

namespace {

/// The reactions string of the owner's newest STAT about `post` (polls until `want`).
bool wait_stat(Federation& f, const std::string& on, const std::string& post, const char* field, const json& want,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  return eventually(
      [&] {
        auto s = stat_of(f, on, post);
        return s.is_object() && s["content"].is_object() && s["content"].value(field, json(nullptr)) == want;
      },
      timeout);
}

/// bob's copy of `post` shows `field` (ActionView stat) == want (polls).
bool wait_mirror(Federation& f, const std::string& on, const std::string& post, const char* field, const json& want,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  return eventually(
      [&] {
        auto v = get_view(f, on, post);
        return v.is_object() && v.contains("stat") && v["stat"].value(field, json(nullptr)) == want;
      },
      timeout);
}

}  // namespace

// 3 (bus): a broadcast POST reaches the follower's WebSocket clients as an
// ACTION frame carrying the same id.
TEST(FederationContent, BroadcastPostReachesFollowersBus) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  BusListener bus(f, "bob.test");
  ASSERT_TRUE(bus.connected()) << bus.error();
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "hello bus"}});
  auto frame = bus.wait_for(BusListener::action(id_of(post)));
  ASSERT_TRUE(frame.has_value()) << "no ACTION frame on bob's bus";
  EXPECT_EQ((*frame)["data"]["type"], "POST");
  EXPECT_EQ((*frame)["data"]["issuer"]["idTag"], "alice.test");
  EXPECT_EQ((*frame)["data"]["content"], "hello bus");
  EXPECT_EQ((*frame)["data"]["status"], "A");
  EXPECT_TRUE(f.settle());
  EXPECT_EQ(bus.count(BusListener::action(id_of(post))), 1u);
}

// 16. Comments are counted by the post's owner, who emits a STAT to her
// followers; the follower's copy shows the count.
TEST(FederationContent, CommentsAndStatistics) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "comment on me"}});
  const std::string pid = id_of(post);
  ASSERT_TRUE(f.wait_stored("bob.test", pid, "A"));

  auto c1 = f.create("bob.test", {{"type", "CMNT"}, {"parentId", pid}, {"content", "first!"}});
  EXPECT_EQ(claims_of(c1["token"])["aud"], "alice.test") << "CMNT goes to the thread's home";
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(c1), "A")) << "CMNT never reached alice";
  EXPECT_EQ(f.stored("alice.test", id_of(c1)).value("rootId", ""), pid);
  ASSERT_TRUE(wait_stat(f, "alice.test", pid, "c", 1)) << "alice emitted no STAT with c:1";
  auto st = stat_of(f, "alice.test", pid);
  EXPECT_EQ(st["issuerTag"], "alice.test");
  EXPECT_EQ(st["parentId"], pid);
  EXPECT_EQ(st["content"]["r"], "");
  EXPECT_EQ(st["content"]["rp"], 0);
  EXPECT_GT(st["content"].value("ct", int64_t{0}), 0);
  EXPECT_FALSE(st.contains("audience")) << "STAT has no audience";
  EXPECT_TRUE(gets_task(f, "alice.test", "delivery:" + st.value("actionId", "") + ":", ":bob.test"));
  ASSERT_TRUE(wait_mirror(f, "bob.test", pid, "commentCount", 1)) << get_view(f, "bob.test", pid).dump();
  EXPECT_EQ(get_view(f, "alice.test", pid)["stat"]["commentCount"], 1);

  // A second comment: the next STAT says c:2 and supersedes the first.
  auto c2 = f.create("bob.test", {{"type", "CMNT"}, {"parentId", pid}, {"content", "second"}});
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(c2), "A"));
  ASSERT_TRUE(wait_stat(f, "alice.test", pid, "c", 2));
  ASSERT_TRUE(wait_mirror(f, "bob.test", pid, "commentCount", 2)) << get_view(f, "bob.test", pid).dump();
  EXPECT_EQ(f.list("alice.test", {{"type", "STAT"}, {"parentId", pid}, {"status", "A"}}).size(), 1u);
  EXPECT_TRUE(f.settle());
  EXPECT_EQ(f.list("bob.test", {{"type", "STAT"}, {"parentId", pid}, {"status", "A"}}).size(), 1u);
}

// 17. One active reaction per user and subject: LOVE supersedes LIKE, and
// REACT:DEL clears it; the STAT's r string follows.
TEST(FederationContent, ReactionReplaceAndDelete) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "react to me"}});
  const std::string pid = id_of(post);
  ASSERT_TRUE(f.wait_stored("bob.test", pid, "A"));

  auto like = f.create("bob.test", {{"type", "REACT"}, {"subType", "LIKE"}, {"subject", pid}});
  EXPECT_EQ(claims_of(like["token"])["aud"], "alice.test") << "aud filled in from the subject's issuer";
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(like), "A"));
  ASSERT_TRUE(wait_stat(f, "alice.test", pid, "r", "1,L1"));
  ASSERT_TRUE(wait_mirror(f, "bob.test", pid, "reactions", "1,L1"));

  auto love = f.create("bob.test", {{"type", "REACT"}, {"subType", "LOVE"}, {"subject", pid}});
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(love), "A"));
  EXPECT_EQ(f.stored("alice.test", id_of(like)).value("status", ""), "D") << "LOVE supersedes LIKE";
  EXPECT_EQ(f.stored("bob.test", id_of(like)).value("status", ""), "D");
  auto active = f.list("alice.test", {{"type", "REACT"}, {"subject", pid}, {"status", "A"}});
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0]["actionId"], id_of(love));
  ASSERT_TRUE(wait_stat(f, "alice.test", pid, "r", "1,V1"));
  ASSERT_TRUE(wait_mirror(f, "bob.test", pid, "reactions", "1,V1")) << get_view(f, "bob.test", pid).dump();

  auto del = f.create("bob.test", {{"type", "REACT"}, {"subType", "DEL"}, {"subject", pid}});
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(del), "A"));
  EXPECT_EQ(f.stored("alice.test", id_of(love)).value("status", ""), "D");
  ASSERT_TRUE(wait_stat(f, "alice.test", pid, "r", ""));
  ASSERT_TRUE(wait_mirror(f, "bob.test", pid, "reactions", "")) << get_view(f, "bob.test", pid).dump();
  EXPECT_TRUE(f.settle());
  EXPECT_EQ(f.list("alice.test", {{"type", "STAT"}, {"parentId", pid}, {"status", "A"}}).size(), 1u);
}

// 18. A post with reactions disabled ("r"): bob's node refuses to create a
// reaction, a hand-made REACT is refused by alice's inbox and not counted,
// and REACT:DEL is never blocked.
TEST(FederationContent, ReactionsDisabledByFlag) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "no reactions please"}, {"flags", "r"}});
  const std::string pid = id_of(post);
  EXPECT_EQ(claims_of(post["token"])["f"], "r");
  ASSERT_TRUE(f.wait_stored("bob.test", pid, "A"));
  EXPECT_EQ(f.stored("bob.test", pid).value("flags", ""), "r");

  auto r = f.call("bob.test", "POST", "/api/actions", {{"type", "REACT"}, {"subType", "LIKE"}, {"subject", pid}});
  EXPECT_EQ(r.status, 400u) << r.body;
  r = f.call("bob.test", "POST", "/api/actions/" + pid + "/reaction", {{"type", "LOVE"}});
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_TRUE(f.list("bob.test", {{"type", "REACT"}}).empty());

  // Crafted by hand with bob's real key: alice's inbox refuses it.
  auto tok = sign_as(f.node("bob.test").app(), "bob.test", {{"t", "REACT:LIKE"}, {"sub", pid}, {"aud", "alice.test"}});
  r = f.inbox("alice.test", tok, {}, true);
  EXPECT_EQ(r.status, 400u) << r.body;
  auto tok2 = sign_as(f.node("bob.test").app(), "bob.test", {{"t", "REACT:WOW"}, {"sub", pid}, {"aud", "alice.test"}});
  r = f.inbox("alice.test", tok2);  // asynchronous inbox: accepted for verification, then refused
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_TRUE(f.settle());
  EXPECT_TRUE(f.list("alice.test", {{"type", "REACT"}}).empty());
  auto st = stat_of(f, "alice.test", pid);
  EXPECT_TRUE(st.is_null() || st["content"]["r"] == "") << st.dump();

  // REACT:DEL passes the gate, created locally and by hand.
  auto del = f.create("bob.test", {{"type", "REACT"}, {"subType", "DEL"}, {"subject", pid}});
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(del), "A")) << "REACT:DEL must not be blocked by the flag";
  auto tok3 = sign_as(f.node("bob.test").app(), "bob.test", {{"t", "REACT:DEL"}, {"sub", pid}, {"aud", "alice.test"}});
  r = f.inbox("alice.test", tok3, {}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
}

// DELETE /api/actions/{id}: the post becomes D locally and POST:DEL
// federates, so the follower's copy becomes D too.
TEST(FederationContent, DeletedPostFederates) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "regrettable"}});
  const std::string pid = id_of(post);
  ASSERT_TRUE(f.wait_stored("bob.test", pid, "A"));
  auto r = f.call("alice.test", "DELETE", "/api/actions/" + pid);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(f.stored("alice.test", pid).value("status", ""), "D");
  auto dels = f.list("alice.test", {{"type", "POST"}, {"subject", pid}});
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_EQ(dels[0].value("subType", ""), "DEL");
  ASSERT_TRUE(f.wait_stored("bob.test", dels[0].value("actionId", ""), "A")) << "POST:DEL never reached bob";
  ASSERT_TRUE(f.wait_stored("bob.test", pid, "D")) << "bob's copy should be D";
  // Gone from bob's feed and from anonymous reads on alice's node.
  auto feed = json::parse(f.call("bob.test", "GET", "/api/actions?type=POST").body)["data"];
  EXPECT_TRUE(feed.empty()) << feed.dump();
  EXPECT_EQ(f.call("alice.test", "GET", "/api/actions/" + pid, nullptr, false).status, 404u);
  // A second DELETE: the post is already gone.
  EXPECT_EQ(f.call("alice.test", "DELETE", "/api/actions/" + pid).status, 404u);
}
