// Conformance scenario 27 (spec/actions-federation.md §18, §2.13): a
// validly signed token of a type no plugin defines is refused with 400 and
// not stored; once a plugin defining it is loaded at run time (copied into
// the node's plugin directory, then App::reload()), the same token is
// accepted, stored, and its on_receive hook runs exactly once.
#include "federation/bus_listener.hpp"
#include "federation/scenario_helpers.hpp"
#include "identity/action_token.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

TEST(FederationPluginType, UnsupportedTypeThenPluginLoaded) {
  Federation f({"alice.test", "bob.test"});
  auto tok = sign_as(f.node("alice.test").app(), "alice.test", {{"t", "FOO"}, {"aud", "bob.test"}, {"c", "foo content"}});
  const std::string id = cumulo::identity::parse_action_token(tok)->id();

  auto r = f.inbox("bob.test", tok, {}, true);
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_NE(r.body.find("not supported"), std::string::npos) << r.body;
  EXPECT_TRUE(f.stored("bob.test", id).is_null());
  auto types = json::parse(f.call("bob.test", "GET", "/api/action-types").body)["data"]["types"];
  for (const auto& t : types) EXPECT_NE(t["type"], "FOO");

  // Load the plugin into bob's running node.
  auto& bob = f.node("bob.test");
  const auto so = test_plugins() / "foo_type.so";
  ASSERT_TRUE(fs::exists(so)) << so;
  fs::copy_file(so, bob.host->plugin_dir() / "foo_type.so", fs::copy_options::overwrite_existing);
  bool loaded = false;
  for (const auto& rep : bob.app().reload())
    for (const auto& fk : rep.factories) loaded |= fk.find("foo-type") != std::string::npos && (rep.status == "loaded" || rep.status == "replaced");
  ASSERT_TRUE(loaded) << "foo_type.so was not loaded";
  types = json::parse(f.call("bob.test", "GET", "/api/action-types").body)["data"]["types"];
  bool listed = false;
  for (const auto& t : types) listed |= t["type"] == "FOO" && t["plugin"] == "foo-type";
  EXPECT_TRUE(listed) << types.dump();

  BusListener bus(f, "bob.test");
  ASSERT_TRUE(bus.connected()) << bus.error();
  r = f.inbox("bob.test", tok, {}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
  auto rec = f.stored("bob.test", id);
  ASSERT_TRUE(rec.is_object()) << "FOO not stored after the plugin was loaded";
  EXPECT_EQ(rec.value("status", ""), "A");
  EXPECT_EQ(rec.value("type", ""), "FOO");
  EXPECT_EQ(rec["content"], "foo content");
  EXPECT_EQ(rec.value("token", ""), tok);
  ASSERT_TRUE(rec.contains("x")) << rec.dump();
  EXPECT_EQ(rec["x"].value("fooSeen", ""), "foo:alice.test") << "the on_receive hook did not run";
  ASSERT_TRUE(bus.wait_for(BusListener::notification(id)).has_value()) << "no notification from the hook";
  ASSERT_TRUE(bus.wait_for(BusListener::action(id)).has_value());

  // Re-delivery (async and sync) is idempotent: the hook ran once.
  EXPECT_EQ(f.inbox("bob.test", tok).status, 201u);
  EXPECT_EQ(f.inbox("bob.test", tok, {}, true).status, 201u);
  EXPECT_TRUE(f.settle());
  EXPECT_EQ(bus.count(BusListener::notification(id)), 1u);
  EXPECT_EQ(bus.count(BusListener::action(id)), 1u);
  EXPECT_EQ(f.list("bob.test", {{"type", "FOO"}}).size(), 1u);
  // The type is only bob's: alice's node still refuses to create FOO.
  EXPECT_EQ(f.call("alice.test", "POST", "/api/actions", {{"type", "FOO"}, {"content", "x"}}).status, 400u);
}
