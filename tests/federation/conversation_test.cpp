// Conformance scenarios 20-22 and 25 (spec/actions-federation.md §18, §2.6,
// §2.7, §2.11, §11.3): direct messages, group conversations with
// invitations, subscriptions and fan-out through the CONV's home, a closed
// CONV refusing strangers, and presence that is forwarded but never stored.
#include "federation/bus_listener.hpp"
#include "federation/scenario_helpers.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

namespace {

/// alice's CONV with `who` invited and subscribed (INVT → accept → SUBS).
/// Returns the INVT id held by `who`.
std::string invite_and_join(Federation& f, const std::string& conv, const std::string& who) {
  auto inv = f.create("alice.test", {{"type", "INVT"}, {"audienceTag", who}, {"subject", conv}, {"content", {{"role", "member"}}}});
  const std::string iid = id_of(inv);
  EXPECT_TRUE(gets_task(f, "alice.test", "delivery:" + iid + ":", ":" + who));
  EXPECT_TRUE(f.wait_stored(who, iid, "C")) << who << " should hold the INVT at C";
  EXPECT_TRUE(f.wait_stored(who, conv, "A")) << who << " should hold the CONV (related, pre-approved)";
  auto r = f.call(who, "POST", "/api/actions/" + iid + "/accept");
  EXPECT_EQ(r.status, 200u) << r.body;
  auto subs = f.list(who, {{"type", "SUBS"}, {"subject", conv}, {"issuerTag", who}});
  EXPECT_EQ(subs.size(), 1u);
  if (subs.empty()) return iid;
  EXPECT_EQ(subs[0].value("audience", ""), "alice.test");
  EXPECT_TRUE(f.wait_stored("alice.test", subs[0].value("actionId", ""), "A")) << who << "'s SUBS should be accepted on alice";
  return iid;
}

}  // namespace

// 20. A direct MSG between connected users reaches only the recipient (and
// its bus); a MSG to a stranger fails on creation and schedules nothing.
TEST(FederationConversation, DirectMessage) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  make_connected(f, "alice.test", "bob.test");
  follow(f, "carol.test", "alice.test");  // carol follows alice: still no MSG to carol
  BusListener bus(f, "bob.test");
  ASSERT_TRUE(bus.connected()) << bus.error();
  auto msg = f.create("alice.test", {{"type", "MSG"}, {"audienceTag", "bob.test"}, {"content", "coffee?"}});
  const std::string mid = id_of(msg);
  ASSERT_TRUE(f.wait_stored("bob.test", mid, "A")) << "MSG never reached bob";
  EXPECT_EQ(f.stored("bob.test", mid)["content"], "coffee?");
  auto frame = bus.wait_for(BusListener::action(mid));
  ASSERT_TRUE(frame.has_value()) << "no ACTION frame on bob's bus";
  EXPECT_EQ((*frame)["data"]["type"], "MSG");
  EXPECT_TRUE(bus.wait_for(BusListener::notification(mid)).has_value()) << "no message notification";
  EXPECT_TRUE(f.settle());
  auto keys = task_keys(f, "alice.test", "delivery:" + mid + ":");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], "delivery:" + mid + ":bob.test");
  EXPECT_TRUE(f.stored("carol.test", mid).is_null());

  auto r = f.call("alice.test", "POST", "/api/actions", {{"type", "MSG"}, {"audienceTag", "carol.test"}, {"content", "hi stranger"}});
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_FALSE(has_task(f, "alice.test", "delivery:", ":carol.test"));
  EXPECT_TRUE(f.list("alice.test", {{"type", "MSG"}, {"audience", "carol.test"}}).empty());
}

// 21. Group conversation: INVT with the CONV bundled, accept → SUBS,
// fan-out from the home, and relay of a member's MSG to the others.
TEST(FederationConversation, GroupConversation) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  make_connected(f, "alice.test", "bob.test");
  make_connected(f, "alice.test", "carol.test");
  auto conv = f.create("alice.test", {{"type", "CONV"}, {"content", {{"name", "Lunch"}}}});
  const std::string cid = id_of(conv);
  EXPECT_EQ(f.stored("alice.test", cid).value("flags", ""), "rco");
  EXPECT_EQ(f.stored("alice.test", cid).value("visibility", ""), "S");

  const std::string bob_invt = invite_and_join(f, cid, "bob.test");
  EXPECT_EQ(f.stored("bob.test", bob_invt).value("status", ""), "A") << "accepted on bob";
  EXPECT_TRUE(f.wait_stored("alice.test", bob_invt, "D")) << "the used INVT is retired on alice";
  invite_and_join(f, cid, "carol.test");

  // alice's MSG in the CONV: fanned out to each subscriber.
  auto m1 = f.create("alice.test", {{"type", "MSG"}, {"parentId", cid}, {"content", "pizza?"}});
  const std::string m1id = id_of(m1);
  ASSERT_TRUE(f.wait_stored("bob.test", m1id, "A")) << "alice's MSG not fanned out to bob";
  ASSERT_TRUE(f.wait_stored("carol.test", m1id, "A")) << "alice's MSG not fanned out to carol";
  EXPECT_TRUE(gets_task(f, "alice.test", "fanout:" + m1id + ":", "fanout:" + m1id + ":bob.test"));
  EXPECT_TRUE(gets_task(f, "alice.test", "fanout:" + m1id + ":", "fanout:" + m1id + ":carol.test"));
  EXPECT_EQ(f.stored("bob.test", m1id).value("rootId", ""), cid);

  // bob's MSG: to alice's node only; alice relays it to carol, not back to bob.
  auto m2 = f.create("bob.test", {{"type", "MSG"}, {"parentId", cid}, {"content", "yes!"}});
  const std::string m2id = id_of(m2);
  EXPECT_EQ(claims_of(m2["token"])["aud"], "alice.test");
  ASSERT_TRUE(f.wait_stored("alice.test", m2id, "A")) << "bob's MSG never reached the CONV home";
  ASSERT_TRUE(f.wait_stored("carol.test", m2id, "A")) << "alice did not relay bob's MSG to carol";
  EXPECT_TRUE(f.settle());
  auto bob_keys = task_keys(f, "bob.test", "delivery:" + m2id + ":");
  ASSERT_EQ(bob_keys.size(), 1u);
  EXPECT_EQ(bob_keys[0], "delivery:" + m2id + ":alice.test");
  EXPECT_TRUE(task_keys(f, "bob.test", "fanout:" + m2id + ":").empty());
  // The relay: an APRV by alice with bob's MSG bundled, to carol only.
  auto relays = f.list("alice.test", {{"type", "APRV"}, {"subject", m2id}});
  ASSERT_EQ(relays.size(), 1u);
  const std::string aprv = relays[0].value("actionId", "");
  EXPECT_EQ(task_keys(f, "alice.test", "fanout:" + aprv + ":"), std::vector<std::string>{"fanout:" + aprv + ":carol.test"});
  EXPECT_FALSE(has_task(f, "alice.test", "fanout:" + m2id + ":", ":bob.test"));
  EXPECT_TRUE(f.stored("bob.test", aprv).is_null()) << "the relay must not go back to bob";
  EXPECT_EQ(f.list("bob.test", {{"type", "MSG"}, {"parentId", cid}}).size(), 2u);
  EXPECT_EQ(f.list("carol.test", {{"type", "MSG"}, {"parentId", cid}}).size(), 2u);
}

// 22. A closed CONV refuses a SUBS without invitation; the stranger gets
// no fan-out and its MSG into the CONV is refused.
TEST(FederationConversation, ClosedConversationRefusesStrangers) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  make_connected(f, "alice.test", "bob.test");
  make_connected(f, "alice.test", "carol.test");
  auto conv = f.create("alice.test", {{"type", "CONV"}, {"content", {{"name", "Private"}}}});
  const std::string cid = id_of(conv);
  invite_and_join(f, cid, "bob.test");

  auto subs = f.create("carol.test", {{"type", "SUBS"}, {"subject", cid}, {"audienceTag", "alice.test"}});
  ASSERT_TRUE(f.wait_stored("alice.test", id_of(subs), "D")) << "carol's SUBS must be rejected";
  auto active = f.list("alice.test", {{"type", "SUBS"}, {"subject", cid}, {"status", "A"}});
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0]["issuerTag"], "bob.test");

  auto m1 = f.create("alice.test", {{"type", "MSG"}, {"parentId", cid}, {"content", "members only"}});
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(m1), "A"));
  EXPECT_TRUE(f.settle());
  EXPECT_TRUE(task_keys(f, "alice.test", "fanout:" + id_of(m1) + ":carol.test").empty());
  EXPECT_TRUE(f.stored("carol.test", id_of(m1)).is_null());

  // carol's MSG into the CONV: refused by the home (not subscribed).
  auto tok = sign_as(f.node("carol.test").app(), "carol.test", {{"t", "MSG"}, {"p", cid}, {"aud", "alice.test"}, {"c", "let me in"}});
  auto r = f.inbox("alice.test", tok, {}, true);
  EXPECT_EQ(r.status, 403u) << r.body;
  auto m2 = f.create("carol.test", {{"type", "MSG"}, {"parentId", cid}, {"audienceTag", "alice.test"}, {"content", "hello?"}});
  EXPECT_TRUE(f.settle());
  EXPECT_TRUE(f.stored("alice.test", id_of(m2)).is_null());
  EXPECT_TRUE(f.stored("bob.test", id_of(m2)).is_null());
  EXPECT_TRUE(f.list("alice.test", {{"type", "MSG"}, {"issuerTag", "carol.test"}}).empty());
}

// 25. Presence in the CONV: forwarded to the subscriber's bus, never
// stored, no delivery task.
TEST(FederationConversation, PresenceIsForwardedNotStored) {
  Federation f({"alice.test", "bob.test"});
  make_connected(f, "alice.test", "bob.test");
  auto conv = f.create("alice.test", {{"type", "CONV"}, {"content", {{"name", "Typing"}}}});
  const std::string cid = id_of(conv);
  invite_and_join(f, cid, "bob.test");
  EXPECT_TRUE(f.settle());

  BusListener bob_bus(f, "bob.test");
  ASSERT_TRUE(bob_bus.connected()) << bob_bus.error();
  BusListener alice_bus(f, "alice.test");
  ASSERT_TRUE(alice_bus.connected()) << alice_bus.error();
  auto pres = f.create("alice.test", {{"type", "PRES"}, {"subType", "TYPING"}, {"subject", cid}});
  const std::string pid = id_of(pres);
  ASSERT_EQ(pid.rfind("a1~", 0), 0u);
  auto frame = bob_bus.wait_for(BusListener::action(pid));
  ASSERT_TRUE(frame.has_value()) << "PRES:TYPING never reached bob's bus";
  EXPECT_EQ((*frame)["data"]["type"], "PRES");
  EXPECT_EQ((*frame)["data"]["subType"], "TYPING");
  EXPECT_EQ((*frame)["data"]["subject"], cid);
  EXPECT_TRUE(alice_bus.wait_for(BusListener::action(pid)).has_value()) << "alice's own clients see it too";

  // bob types: alice's node (the CONV home) gets it on her bus.
  auto pres2 = f.create("bob.test", {{"type", "PRES"}, {"subType", "TYPING"}, {"subject", cid}});
  EXPECT_TRUE(alice_bus.wait_for(BusListener::action(id_of(pres2))).has_value()) << "bob's PRES never reached alice's bus";

  EXPECT_TRUE(f.settle());
  for (const auto* n : {"alice.test", "bob.test"}) {
    EXPECT_TRUE(f.list(n, {{"type", "PRES"}}).empty()) << n;
    EXPECT_TRUE(f.stored(n, pid).is_null()) << n;
    EXPECT_TRUE(f.stored(n, id_of(pres2)).is_null()) << n;
    auto listed = json::parse(f.call(n, "GET", "/api/actions?type=PRES").body)["data"];
    EXPECT_TRUE(listed.empty()) << n;
    EXPECT_TRUE(task_keys(f, n, "delivery:" + pid).empty()) << n;
    EXPECT_TRUE(task_keys(f, n, "delivery:" + id_of(pres2)).empty()) << n;
  }
}
