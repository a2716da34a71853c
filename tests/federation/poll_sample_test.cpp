// samples/action-poll, a third party's action type built out of tree against
// the installed SDK (scripts/test.sh exports CUMULO_POLL_PLUGIN; an in-tree
// build is the fallback): loaded at runtime into running hosts, its actions
// federate between two instances with the native tally hook counting on the
// poll owner's node, and unloading it refuses new POLL actions cleanly.
#include <cstdlib>

#include "federation/federation.hpp"
#include "identity/content_id.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

namespace {

fs::path poll_plugin() {
  if (const char* p = std::getenv("CUMULO_POLL_PLUGIN"); p && *p) return p;
  return fs::path(CUMULO_BUILD_DIR) / "samples-plugins" / "action-poll.so";
}

void load_poll(Node& n) {
  fs::copy_file(poll_plugin(), n.host->plugin_dir() / "action-poll.so", fs::copy_options::overwrite_existing);
  n.app().reload();
}

}  // namespace

TEST(PollSample, LoadsAtRuntimeFederatesAndUnloadsCleanly) {
  ASSERT_TRUE(fs::exists(poll_plugin())) << poll_plugin();
  Federation f({"alice.test", "bob.test"});
  const json poll_req = {{"type", "POLL"}, {"content", {{"question", "Tea or coffee?"}, {"options", {"tea", "coffee"}}}}};

  // Not known yet: refused before anything is signed or stored.
  auto before = f.call("alice.test", "POST", "/api/actions", poll_req);
  EXPECT_EQ(before.status, 400u) << before.body;
  EXPECT_NE(before.body.find("not supported"), std::string::npos);

  // Dropped into both running hosts.
  load_poll(f.node("alice.test"));
  load_poll(f.node("bob.test"));
  auto types = json::parse(f.call("bob.test", "GET", "/api/action-types", nullptr, false).body)["data"]["types"];
  bool listed = false;
  for (const auto& t : types) listed |= t["type"] == "POLL:VOTE" && t["plugin"] == "action-poll";
  EXPECT_TRUE(listed) << types.dump();

  auto fl = f.create("bob.test", {{"type", "FLLW"}, {"audienceTag", "alice.test"}});
  ASSERT_TRUE(f.wait_stored("alice.test", fl["actionId"], "A"));
  auto poll = f.create("alice.test", poll_req);
  const std::string poll_id = poll["actionId"];
  ASSERT_TRUE(f.wait_stored("bob.test", poll_id, "A")) << "the POLL did not reach the follower";

  // bob votes on his copy; the vote goes to the poll's owner, whose native
  // hook tallies it; a second vote replaces the first (key pattern).
  auto v1 = f.create("bob.test", {{"type", "POLL:VOTE"}, {"subject", poll_id}, {"content", {{"option", 1}}}});
  ASSERT_TRUE(f.wait_stored("alice.test", v1["actionId"], "A"));
  ASSERT_TRUE(eventually([&] { return f.stored("alice.test", poll_id)["x"].value("votes", json::object()).value("1", 0) == 1; }, std::chrono::seconds(60)))
      << f.stored("alice.test", poll_id).dump();
  auto v2 = f.create("bob.test", {{"type", "POLL:VOTE"}, {"subject", poll_id}, {"content", {{"option", 0}}}});
  ASSERT_TRUE(f.wait_stored("alice.test", v2["actionId"], "A"));
  ASSERT_TRUE(eventually(
      [&] {
        auto votes = f.stored("alice.test", poll_id)["x"].value("votes", json::object());
        return votes.value("0", 0) == 1 && votes.value("1", 0) == 0;
      },
      std::chrono::seconds(60)))
      << f.stored("alice.test", poll_id).dump();
  EXPECT_EQ(f.stored("alice.test", v1["actionId"])["status"], "D");  // superseded

  // A newer vote the owner's hook refuses (no option 7) must not cost bob
  // the vote it would have replaced.
  const int64_t v2_at = f.stored("alice.test", v2["actionId"]).value("createdAt", int64_t{0});
  auto bad =
      sign_as(f.node("bob.test").app(), "bob.test", {{"t", "POLL:VOTE"}, {"sub", poll_id}, {"aud", "alice.test"}, {"c", {{"option", 7}}}, {"iat", v2_at + 1}});
  auto refused = f.inbox("alice.test", bad, {}, true);
  EXPECT_EQ(refused.status, 201u) << refused.body;  // accepted, then rested at D by the tally hook
  EXPECT_EQ(f.stored("alice.test", cumulo::identity::action_id(bad))["status"], "D");
  auto kept = f.stored("alice.test", v2["actionId"]);
  EXPECT_EQ(kept["status"], "A") << kept.dump();
  EXPECT_FALSE(kept.value("key", json(nullptr)).is_null()) << "the refused vote took the key with it: " << kept.dump();
  auto votes = f.stored("alice.test", poll_id)["x"].value("votes", json::object());
  EXPECT_EQ(votes.value("0", 0), 1) << votes.dump();

  // Unloaded from alice's host: new POLL actions are refused cleanly, the
  // stored ones stay readable, everything else keeps working.
  auto del = f.admin("alice.test", "DELETE", "/api/_admin/plugins/action-poll");
  EXPECT_EQ(del.status, 200u) << del.body;
  auto after = f.call("alice.test", "POST", "/api/actions", poll_req);
  EXPECT_EQ(after.status, 400u) << after.body;
  EXPECT_NE(after.body.find("not supported"), std::string::npos);
  auto tok = sign_as(f.node("bob.test").app(), "bob.test", {{"t", "POLL:VOTE"}, {"sub", poll_id}, {"aud", "alice.test"}, {"c", {{"option", 1}}}});
  auto in = f.inbox("alice.test", tok, {}, true);
  EXPECT_EQ(in.status, 400u) << in.body;
  EXPECT_EQ(f.call("alice.test", "GET", "/api/actions/" + poll_id).status, 200u);
  EXPECT_EQ(f.create("alice.test", {{"type", "POST"}, {"content", "still posting"}}).value("type", ""), "POST");
}
