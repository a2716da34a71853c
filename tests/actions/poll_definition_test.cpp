// samples/action-poll: poll.json loads through the DSL engine, POLL and
// POLL:VOTE accept and refuse what they should, and the POLL:VOTE hooks —
// DSL first, then the native `tally` (poll_tally.hpp, called here in place of
// the plugin) — count, move and refuse votes against a fake Env.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "actions/dsl/dsl.hpp"
#include "error_of.hpp"
#include "poll_tally.hpp"

#ifndef CUMULO_POLL_JSON
#error "CUMULO_POLL_JSON must name samples/action-poll/poll.json"
#endif

namespace {

using namespace cumulo::actions::dsl;
using namespace nlohmann::literals;

const std::map<std::string, Definition>& defs() {
  static const std::map<std::string, Definition> all = [] {
    std::ifstream in(CUMULO_POLL_JSON);
    if (!in) throw std::runtime_error("cannot open " CUMULO_POLL_JSON);
    std::stringstream ss;
    ss << in.rdbuf();
    std::map<std::string, Definition> m;
    for (const auto& d : json::parse(ss.str())) {
      Definition def = parse_definition(d);
      m.emplace(def.type, std::move(def));
    }
    return m;
  }();
  return all;
}
const Definition& poll_def() { return defs().at("POLL"); }
const Definition& vote_def() { return defs().at("POLL:VOTE"); }

ActionFields poll_action(json content) {
  ActionFields a;
  a.action_id = "a1~poll";
  a.type = "POLL";
  a.issuer = "alice.test";
  a.content = std::move(content);
  a.created_at = 1700000000;
  return a;
}

ActionFields vote_action(json option, const std::string& voter = "bob.test") {
  ActionFields a;
  a.action_id = "a1~vote";
  a.type = "POLL";
  a.subtype = "VOTE";
  a.issuer = voter;
  a.audience = "alice.test";
  a.subject = "a1~poll";
  a.content = json{{"option", std::move(option)}};
  a.created_at = 1700000100;
  return a;
}

// ---- definitions ----------------------------------------------------------------------

TEST(PollSample, DefinitionsLoad) {
  ASSERT_EQ(defs().size(), 2u);
  const auto& p = poll_def();
  EXPECT_TRUE(p.behavior.broadcast);
  EXPECT_EQ(p.content, Presence::kRequired);
  EXPECT_FALSE(p.key_pattern);
  EXPECT_TRUE(p.subtypes.count("VOTE") && p.subtypes.count("DEL"));
  EXPECT_FALSE(p.on_receive.native);

  const auto& v = vote_def();
  EXPECT_TRUE(v.behavior.allow_unknown);
  EXPECT_TRUE(v.behavior.deliver_to_subject_owner);
  EXPECT_FALSE(v.behavior.broadcast);
  EXPECT_EQ(v.subject, Presence::kRequired);
  EXPECT_EQ(v.audience, Presence::kOptional);
  EXPECT_EQ(v.key_pattern.value_or(""), "{type}:{subject}:{issuer}");
  for (const char* hook : {"on_create", "on_receive"}) {
    EXPECT_TRUE(v.hook(hook).ops) << hook;
    EXPECT_EQ(v.hook(hook).native.value_or(""), "tally") << hook;
  }
}

TEST(PollSample, ValidatesPolls) {
  EXPECT_NO_THROW(validate_action(poll_def(), poll_action(R"({"question":"Tea or coffee?","options":["tea","coffee"]})"_json)));
  EXPECT_NO_THROW(validate_action(poll_def(), poll_action(R"({"question":"Lunch?","options":["a","b","c"],"expires":1700086400})"_json)));

  json twenty_one = json::array();
  for (int i = 0; i < 21; ++i) twenty_one.push_back("o" + std::to_string(i));
  const std::vector<json> bad = {
      R"({"question":"One option?","options":["only"]})"_json,
      json{{"question", "Too many?"}, {"options", twenty_one}},
      R"({"options":["a","b"]})"_json,
      R"({"question":"","options":["a","b"]})"_json,
      json{{"question", std::string(501, 'q')}, {"options", {"a", "b"}}},
      R"({"question":"Numbers?","options":[1,2]})"_json,
      R"({"question":"Empty option?","options":["a",""]})"_json,
      R"({"question":"When?","options":["a","b"],"expires":"tomorrow"})"_json,
      R"("just a string")"_json,
  };
  for (const auto& c : bad) EXPECT_THROW(validate_action(poll_def(), poll_action(c)), ValidationError) << c.dump();
  auto no_content = poll_action(nullptr);
  no_content.content.reset();
  EXPECT_THROW(validate_action(poll_def(), no_content), ValidationError);

  // POLL:DEL (looked up as POLL) carries no content.
  auto del = no_content;
  del.subtype = "DEL";
  del.subject = "a1~poll";
  EXPECT_NO_THROW(validate_action(poll_def(), del));
}

TEST(PollSample, ValidatesVotes) {
  EXPECT_NO_THROW(validate_action(vote_def(), vote_action(1)));
  auto no_audience = vote_action(0);
  no_audience.audience.reset();  // the pipeline fills in the poll's owner
  EXPECT_NO_THROW(validate_action(vote_def(), no_audience));

  auto no_subject = vote_action(0);
  no_subject.subject.reset();
  EXPECT_NE(error_of<ValidationError>([&] { validate_action(vote_def(), no_subject); }).find("subject"), std::string::npos);
  auto no_option = vote_action(0);
  no_option.content = json::object({{"choice", 0}});
  EXPECT_THROW(validate_action(vote_def(), no_option), ValidationError);
  EXPECT_THROW(validate_action(vote_def(), vote_action("first")), ValidationError);
  auto no_content = vote_action(0);
  no_content.content.reset();
  EXPECT_THROW(validate_action(vote_def(), no_content), ValidationError);
}

TEST(PollSample, OneVoteKeyPerVoterAndPoll) {
  EXPECT_EQ(expand_key(*vote_def().key_pattern, vote_action(0)), "POLL:a1~poll:bob.test");
  EXPECT_EQ(expand_key(*vote_def().key_pattern, vote_action(2)), "POLL:a1~poll:bob.test");
  EXPECT_EQ(expand_key(*vote_def().key_pattern, vote_action(0, "carol.test")), "POLL:a1~poll:carol.test");
}

// ---- hooks ---------------------------------------------------------------------------------

// Holds actions by id; update_action merges x as the host does; the native
// hook is the plugin's tally function.
class FakeEnv : public Env {
 public:
  std::map<std::string, json> actions;
  std::vector<std::pair<std::string, json>> updates;
  std::vector<std::string> logs;
  std::vector<json> native_inputs;

  std::string create_action(const json&) override { throw std::logic_error("unexpected create_action"); }
  json get_action(const json& selector) override {
    auto it = actions.find(selector.value("action_id", ""));
    return it == actions.end() ? json() : it->second;
  }
  void update_action(const std::string& target, const json& set) override {
    updates.emplace_back(target, set);
    if (set.contains("x")) actions.at(target)["x"].merge_patch(set["x"]);
  }
  void delete_action(const std::string&) override { throw std::logic_error("unexpected delete_action"); }
  json get_profile(const std::string&) override { return nullptr; }
  void update_profile(const std::string&, const json&) override { throw std::logic_error("unexpected update_profile"); }
  void broadcast_to_followers(const std::string&) override {}
  void send_to_audience(const std::string&, const std::string&) override {}
  void create_notification(const std::string&, const std::string&, const std::string&, const std::string&) override {}
  void log(const std::string&, const std::string& message) override { logs.push_back(message); }
  json run_native(const std::string& name, const json& input) override {
    if (name != "tally") throw std::logic_error("unknown native hook " + name);
    native_inputs.push_back(input);
    return action_poll::tally(input);
  }
};

// The host's view of a stored poll (engine.cpp hook_view): action_json + status + x.
json poll_view(const std::string& issuer = "alice.test", json content = R"({"question":"Lunch?","options":["pizza","sushi","salad"]})"_json) {
  json v = action_json(poll_action(std::move(content)));
  v["issuer"] = issuer;
  v["status"] = "A";
  v["x"] = json::object();
  return v;
}

struct Node {
  FakeEnv env;
  HookResult run(const char* hook, const ActionFields& vote, const std::string& me = "alice.test") {
    Scope scope;
    scope.action = &vote;
    scope.context = {{"tenant_id", 1}, {"tenant_tag", me}, {"tenant_type", "person"}};
    scope.inbound = std::string(hook) == "on_receive";
    return run_hook(vote_def().hook(hook), hook, scope, env);
  }
  const json& x() { return env.actions.at("a1~poll")["x"]; }
};

TEST(PollSample, CountsAVoteOnTheOwnersNode) {
  Node n;
  n.env.actions["a1~poll"] = poll_view();
  auto r = n.run("on_receive", vote_action(1));
  EXPECT_TRUE(r.continue_processing);
  EXPECT_FALSE(r.status);
  ASSERT_EQ(n.env.updates.size(), 1u);
  EXPECT_EQ(n.env.updates[0].first, "a1~poll");
  EXPECT_EQ(n.x(), R"({"votes":{"0":0,"1":1,"2":0},"voters":{"@bob.test":1}})"_json);
  // The native hook saw the vote and the poll the DSL part loaded.
  ASSERT_EQ(n.env.native_inputs.size(), 1u);
  EXPECT_EQ(n.env.native_inputs[0]["hook"], "on_receive");
  EXPECT_EQ(n.env.native_inputs[0]["action"]["content"]["option"], 1);
  EXPECT_EQ(n.env.native_inputs[0]["vars"]["poll"]["action_id"], "a1~poll");

  n.run("on_receive", vote_action(1, "carol.test"));
  n.run("on_receive", vote_action(0, "dave.test"));
  EXPECT_EQ(n.x()["votes"], R"({"0":1,"1":2,"2":0})"_json);
  EXPECT_EQ(n.x()["voters"], R"({"@bob.test":1,"@carol.test":1,"@dave.test":0})"_json);
}

TEST(PollSample, ANewVoteMovesTheVotersCount) {
  Node n;
  n.env.actions["a1~poll"] = poll_view();
  n.run("on_receive", vote_action(1));
  n.run("on_receive", vote_action(2));
  EXPECT_EQ(n.x()["votes"], R"({"0":0,"1":0,"2":1})"_json);
  EXPECT_EQ(n.x()["voters"], R"({"@bob.test":2})"_json);

  // The same choice again changes nothing.
  n.env.updates.clear();
  auto r = n.run("on_receive", vote_action(2));
  EXPECT_TRUE(r.continue_processing);
  EXPECT_TRUE(n.env.updates.empty());
}

TEST(PollSample, RefusesAnOptionOutOfRange) {
  for (const json& option : {json(3), json(-1), json(1.5), json(99999999999)}) {
    Node n;
    n.env.actions["a1~poll"] = poll_view();
    auto r = n.run("on_receive", vote_action(option));
    EXPECT_EQ(r.status, 'D') << option;
    EXPECT_FALSE(r.continue_processing) << option;
    EXPECT_TRUE(n.env.updates.empty()) << option;
    ASSERT_EQ(n.env.logs.size(), 1u) << option;
    EXPECT_EQ(n.env.logs[0], "POLL:VOTE a1~vote of bob.test refused: option " + option.dump() + " is not one of the 3 options");
  }
}

TEST(PollSample, RefusesAVoteOnWhatIsNotAnOpenPoll) {
  auto refused = [](const std::function<void(FakeEnv&)>& setup) {
    Node n;
    setup(n.env);
    auto msg = error_of<ValidationError>([&] { n.run("on_receive", vote_action(0)); });
    EXPECT_TRUE(n.env.native_inputs.empty());
    EXPECT_TRUE(n.env.updates.empty());
    return msg;
  };
  EXPECT_EQ(refused([](FakeEnv&) {}), "a1~poll is not an open poll held here");
  EXPECT_EQ(refused([](FakeEnv& e) {
              e.actions["a1~poll"] = poll_view();
              e.actions["a1~poll"]["status"] = "D";
            }),
            "a1~poll is not an open poll held here");
  EXPECT_EQ(refused([](FakeEnv& e) {
              e.actions["a1~poll"] = poll_view();
              e.actions["a1~poll"]["type"] = "POST";
            }),
            "a1~poll is not an open poll held here");
  EXPECT_EQ(refused([](FakeEnv& e) {
              e.actions["a1~poll"] = poll_view();
              e.actions["a1~poll"]["subtype"] = "VOTE";
            }),
            "a1~poll is not an open poll held here");
  // Closed: the vote was issued after content.expires.
  EXPECT_EQ(refused([](FakeEnv& e) { e.actions["a1~poll"] = poll_view("alice.test", R"({"question":"Q","options":["a","b"],"expires":1700000050})"_json); }),
            "poll a1~poll is closed");
}

TEST(PollSample, StillOpenBeforeItExpires) {
  Node n;
  n.env.actions["a1~poll"] = poll_view("alice.test", R"({"question":"Q","options":["a","b"],"expires":1700000100})"_json);
  n.run("on_receive", vote_action(0));
  EXPECT_EQ(n.x()["votes"], R"({"0":1,"1":0})"_json);
}

TEST(PollSample, ACopyOfSomeoneElsesPollCountsNothing) {
  // carol.test holds a copy of alice's poll (she follows alice) and receives a vote.
  Node n;
  n.env.actions["a1~poll"] = poll_view();
  auto r = n.run("on_receive", vote_action(0), "carol.test");
  EXPECT_FALSE(r.continue_processing);
  EXPECT_FALSE(r.status);
  EXPECT_TRUE(n.env.native_inputs.empty());
  EXPECT_TRUE(n.env.updates.empty());
}

TEST(PollSample, OnCreateCountsOnlyTheOwnersOwnVote) {
  // bob votes on alice's poll from his node: nothing to count here, delivery goes on.
  Node bob;
  bob.env.actions["a1~poll"] = poll_view();
  auto r = bob.run("on_create", vote_action(0), "bob.test");
  EXPECT_TRUE(r.continue_processing);
  EXPECT_TRUE(bob.env.native_inputs.empty());
  EXPECT_TRUE(bob.env.updates.empty());
  // A poll bob does not hold: the owner's node judges the vote.
  Node bob2;
  EXPECT_TRUE(bob2.run("on_create", vote_action(0), "bob.test").continue_processing);

  // alice votes on her own poll: counted on create (no on_receive will run).
  Node alice;
  alice.env.actions["a1~poll"] = poll_view();
  auto own = vote_action(2, "alice.test");
  own.audience.reset();
  alice.run("on_create", own);
  EXPECT_EQ(alice.x(), R"({"votes":{"0":0,"1":0,"2":1},"voters":{"@alice.test":2}})"_json);
  EXPECT_EQ(alice.run("on_create", vote_action(7, "alice.test")).status, 'D');
}

TEST(PollSample, TallyNeedsThePollLoadedFirst) {
  EXPECT_THROW(action_poll::tally(json{{"hook", "on_receive"}, {"action", action_json(vote_action(0))}, {"vars", json::object()}}), std::invalid_argument);
}

}  // namespace
