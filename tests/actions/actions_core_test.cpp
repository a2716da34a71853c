// plugins/actions-core: every built-in definition loads through the DSL
// engine, carries the [impl] facts of spec/reference-implementation.md §2.5,
// and its DSL hooks do what spec/actions-federation.md §11 asks, run against
// a recording fake Env (no host, no storage).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "actions/dsl/dsl.hpp"

#ifndef CUMULO_ACTIONS_CORE_TYPES_DIR
#error "CUMULO_ACTIONS_CORE_TYPES_DIR must name plugins/actions-core/types"
#endif

namespace {

using namespace cumulo::actions::dsl;

const std::vector<std::string> kTypes = {"CONN", "FLLW", "POST", "REPOST", "CMNT", "REACT",   "MSG",    "CONV", "SUBS",
                                         "INVT", "STAT", "FSHR", "APRV",   "PRES", "IDP:REG", "PRINVT", "APKG"};

std::string file_for(const std::string& type) {
  std::string name = type;
  for (char& c : name)
    if (c == ':') c = '_';
  return std::string(CUMULO_ACTIONS_CORE_TYPES_DIR) + "/" + name + ".json";
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

const std::map<std::string, Definition>& defs() {
  static const std::map<std::string, Definition> all = [] {
    std::map<std::string, Definition> m;
    for (const auto& t : kTypes) m.emplace(t, parse_definition(read_json(file_for(t))));
    return m;
  }();
  return all;
}

const Definition& def(const std::string& type) { return defs().at(type); }

// ---- a recording Env ------------------------------------------------------------

json view(const std::string& id, const std::string& type, const json& subtype, const std::string& issuer, const json& audience = nullptr,
          const std::string& status = "A") {
  return {{"action_id", id},    {"type", type},       {"subtype", subtype}, {"issuer", issuer}, {"audience", audience}, {"parent", nullptr},
          {"subject", nullptr}, {"content", nullptr}, {"flags", nullptr},   {"status", status}, {"x", nullptr}};
}

class FakeEnv : public Env {
 public:
  std::map<std::string, json> by_key, by_id, profiles;
  std::vector<json> created;
  std::vector<std::pair<std::string, json>> action_updates;
  std::vector<json> notifications;

  std::string create_action(const json& spec) override {
    created.push_back(spec);
    return "a1~created" + std::to_string(created.size());
  }
  json get_action(const json& selector) override {
    const auto& table = selector.contains("key") ? by_key : by_id;
    auto it = table.find(selector.begin().value().get<std::string>());
    return it == table.end() ? json() : it->second;
  }
  void update_action(const std::string& target, const json& set) override { action_updates.emplace_back(target, set); }
  void delete_action(const std::string&) override { FAIL() << "no built-in hook deletes actions"; }
  json get_profile(const std::string& id_tag) override {
    auto it = profiles.find(id_tag);
    return it == profiles.end() ? json() : it->second;
  }
  void update_profile(const std::string& id_tag, const json& set) override {
    json& p = profiles[id_tag];
    if (p.is_null()) p = {{"id_tag", id_tag}};
    p.update(set);
  }
  void broadcast_to_followers(const std::string&) override { FAIL() << "delivery is the pipeline's job"; }
  void send_to_audience(const std::string&, const std::string&) override { FAIL() << "delivery is the pipeline's job"; }
  void create_notification(const std::string& user, const std::string& type, const std::string& action_id, const std::string& priority) override {
    notifications.push_back({{"user", user}, {"type", type}, {"action_id", action_id}, {"priority", priority}});
  }
  void log(const std::string&, const std::string&) override {}
  json run_native(const std::string& name, const json&) override { throw std::runtime_error("actions-core has no native hook " + name); }

  json profile(const std::string& id_tag, const char* field) const {
    auto it = profiles.find(id_tag);
    if (it == profiles.end() || !it->second.contains(field)) return json();
    return it->second[field];
  }
};

constexpr const char* kMe = "bob.test";

json context(json settings = json::object(), const std::string& tenant_type = "person") {
  return {{"tenant_id", 2}, {"tenant_tag", kMe}, {"tenant_type", tenant_type}, {"settings", std::move(settings)}};
}

ActionFields action(const std::string& type, std::optional<std::string> subtype, const std::string& issuer, std::optional<std::string> audience = {}) {
  ActionFields a;
  a.action_id = "a1~this";
  a.type = type;
  a.subtype = std::move(subtype);
  a.issuer = issuer;
  a.audience = std::move(audience);
  a.created_at = 1700000000;
  return a;
}

HookResult run(const std::string& type, std::string_view hook, const ActionFields& a, FakeEnv& env, json ctx = context()) {
  Scope scope;
  scope.action = &a;
  scope.context = std::move(ctx);
  scope.inbound = hook == "on_receive";
  return run_hook(def(type).hook(hook), hook, scope, env);
}

// ---- the definitions ------------------------------------------------------------

TEST(ActionsCoreDefinitions, EveryTypeLoadsUnderItsName) {
  ASSERT_EQ(defs().size(), 17u);
  for (const auto& [type, d] : defs()) EXPECT_EQ(d.type, type);
  // Every file in types/ is one of the 17 (the plugin embeds exactly this list).
  std::set<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(CUMULO_ACTIONS_CORE_TYPES_DIR)) files.insert(e.path().filename().string());
  std::set<std::string> expected;
  for (const auto& t : kTypes) expected.insert(std::filesystem::path(file_for(t)).filename().string());
  EXPECT_EQ(files, expected);
}

TEST(ActionsCoreDefinitions, KeyPatternsFollowImpl) {
  const std::map<std::string, std::optional<std::string>> keys = {
      {"CONN", "{type}:{issuer}:{audience}"},
      {"FLLW", "{type}:{issuer}:{audience}"},
      {"POST", std::nullopt},
      {"REPOST", "{type}:{subject}:{issuer}:{audience}"},
      {"CMNT", std::nullopt},
      {"REACT", "{type}:{subject}:{issuer}"},
      {"MSG", std::nullopt},
      {"CONV", std::nullopt},
      {"SUBS", "{type}:{subject}:{issuer}"},
      {"INVT", "{type}:{subject}:{audience}"},
      {"STAT", "{type}:{parent}"},
      {"FSHR", "{type}:{subject}:{audience}"},
      {"APRV", std::nullopt},
      {"PRES", std::nullopt},
      {"IDP:REG", "{type}:{issuer}:{audience}:{content.idTag}"},
      {"PRINVT", "{type}:{issuer}:{audience}"},
      {"APKG", "{type}:{content.name}"},
  };
  for (const auto& [type, key] : keys) EXPECT_EQ(def(type).key_pattern, key) << type;
}

TEST(ActionsCoreDefinitions, ReactionsSupersedeEachOtherPerSubject) {
  ActionFields like = action("REACT", "LIKE", "alice.test");
  like.subject = "a1~post";
  ActionFields love = like;
  love.subtype = "LOVE";
  ActionFields del = like;
  del.subtype = "DEL";
  const auto& p = *def("REACT").key_pattern;
  EXPECT_EQ(expand_key(p, like), "REACT:a1~post:alice.test");
  EXPECT_EQ(expand_key(p, love), expand_key(p, like));
  EXPECT_EQ(expand_key(p, del), expand_key(p, like));
  EXPECT_EQ(def("REACT").content, Presence::kForbidden);
  EXPECT_EQ(def("REACT").subject, Presence::kRequired);
  EXPECT_EQ(def("REACT").behavior.gated_by_subject_flag, 'R');
  for (const char* s : {"LIKE", "LOVE", "LAUGH", "WOW", "SAD", "ANGRY", "DEL"}) EXPECT_TRUE(def("REACT").subtypes.count(s)) << s;
}

TEST(ActionsCoreDefinitions, BehaviourFlags) {
  const auto& conv = def("CONV").behavior;
  EXPECT_EQ(conv.default_flags, "rco");
  EXPECT_EQ(conv.default_visibility, 'S');
  EXPECT_TRUE(conv.subscribable && conv.relay_children);
  EXPECT_TRUE(def("PRES").behavior.ephemeral);
  EXPECT_EQ(def("PRES").behavior.ttl, 30);
  EXPECT_TRUE(def("POST").behavior.broadcast && def("POST").behavior.approvable);
  EXPECT_TRUE(def("REPOST").behavior.deliver_subject && def("REPOST").behavior.deliver_to_subject_owner);
  EXPECT_TRUE(def("MSG").behavior.requires_subscription && def("MSG").behavior.approvable);
  EXPECT_EQ(def("CMNT").behavior.gated_by_parent_flag, 'C');
  EXPECT_TRUE(def("INVT").behavior.deliver_subject && def("INVT").behavior.deliver_to_subject_owner);
  EXPECT_TRUE(def("APRV").behavior.broadcast && def("APRV").behavior.deliver_subject);
  EXPECT_TRUE(def("APKG").behavior.local_only && def("APKG").behavior.approvable);
  // allow_unknown exactly where [impl] sets it.
  std::set<std::string> unknown_ok;
  for (const auto& [type, d] : defs())
    if (d.behavior.allow_unknown) unknown_ok.insert(type);
  EXPECT_EQ(unknown_ok, (std::set<std::string>{"CONN", "FLLW", "REACT", "CMNT", "SUBS", "PRES", "IDP:REG", "APKG"}));
}

TEST(ActionsCoreDefinitions, FieldPresence) {
  // [impl] table: STAT c R / aud – / p R / sub – / a F (the doc's "aud forbidden" is not [impl]).
  EXPECT_EQ(def("STAT").content, Presence::kRequired);
  EXPECT_EQ(def("STAT").parent, Presence::kRequired);
  EXPECT_EQ(def("STAT").attachments, Presence::kForbidden);
  EXPECT_EQ(def("STAT").audience, Presence::kOptional);
  EXPECT_EQ(def("APRV").content, Presence::kForbidden);
  EXPECT_EQ(def("APRV").attachments, Presence::kForbidden);
  EXPECT_EQ(def("PRES").attachments, Presence::kForbidden);
  EXPECT_EQ(def("REPOST").subject, Presence::kRequired);
  EXPECT_EQ(def("REPOST").parent, Presence::kForbidden);
  EXPECT_EQ(def("CONN").audience, Presence::kRequired);
  EXPECT_EQ(def("APKG").audience, Presence::kForbidden);
  EXPECT_EQ(def("APKG").attachments, Presence::kRequired);
}

TEST(ActionsCoreDefinitions, ContentSchemas) {
  ActionFields post = action("POST", std::nullopt, "alice.test");
  post.content = "";
  EXPECT_THROW(validate_action(def("POST"), post), ValidationError);
  post.content = "hi";
  EXPECT_NO_THROW(validate_action(def("POST"), post));

  ActionFields react = action("REACT", "LIKE", "alice.test");
  react.subject = "a1~post";
  EXPECT_NO_THROW(validate_action(def("REACT"), react));
  react.content = "no";
  EXPECT_THROW(validate_action(def("REACT"), react), ValidationError);

  ActionFields conv = action("CONV", std::nullopt, "alice.test");
  conv.content = json{{"description", "no name"}};
  EXPECT_THROW(validate_action(def("CONV"), conv), ValidationError);
  conv.content = json{{"name", "Team"}};
  EXPECT_NO_THROW(validate_action(def("CONV"), conv));

  ActionFields share = action("FSHR", std::nullopt, "alice.test", "bob.test");
  share.subject = "f1~X";
  share.content = json{{"contentType", "text/plain"}, {"fileName", "a.txt"}, {"fileTp", "DISK"}};
  EXPECT_THROW(validate_action(def("FSHR"), share), ValidationError);
  share.content = json{{"contentType", "text/plain"}, {"fileName", "a.txt"}, {"fileTp", "BLOB"}};
  EXPECT_NO_THROW(validate_action(def("FSHR"), share));

  ActionFields conn = action("CONN", std::nullopt, "alice.test", "bob.test");
  conn.content = std::string(501, 'x');
  EXPECT_THROW(validate_action(def("CONN"), conn), ValidationError);
}

TEST(ActionsCoreDefinitions, HooksOnlyWhereNeeded) {
  for (const char* t : {"POST", "REPOST", "CMNT", "REACT", "CONV", "PRES", "APKG"})
    for (const char* h : {"on_create", "on_receive", "on_accept", "on_reject"}) EXPECT_TRUE(def(t).hook(h).empty()) << t << " " << h;
  for (const auto& [type, d] : defs())
    for (const char* h : {"on_create", "on_receive", "on_accept", "on_reject"}) EXPECT_FALSE(d.hook(h).native) << type << " " << h;
}

// ---- FLLW (spec §11.1) -------------------------------------------------------------

TEST(ActionsCoreHooks, FollowSetsFollowingAndFollower) {
  FakeEnv env;
  auto out = action("FLLW", std::nullopt, kMe, "alice.test");
  run("FLLW", "on_create", out, env);
  EXPECT_EQ(env.profile("alice.test", "following"), true);
  out.subtype = "DEL";
  run("FLLW", "on_create", out, env);
  EXPECT_EQ(env.profile("alice.test", "following"), false);

  auto in = action("FLLW", std::nullopt, "carol.test", kMe);
  auto r = run("FLLW", "on_receive", in, env);
  EXPECT_EQ(env.profile("carol.test", "follower"), true);
  EXPECT_FALSE(r.status.has_value());
  EXPECT_TRUE(r.continue_processing);
  in.subtype = "DEL";
  run("FLLW", "on_receive", in, env);
  EXPECT_EQ(env.profile("carol.test", "follower"), false);
}

TEST(ActionsCoreHooks, FollowRefusedWhenFollowersAreDisallowed) {
  FakeEnv env;
  auto in = action("FLLW", std::nullopt, "carol.test", kMe);
  auto r = run("FLLW", "on_receive", in, env, context({{"allow_followers", false}}));
  EXPECT_EQ(r.status, 'D');
  EXPECT_FALSE(r.continue_processing);
  EXPECT_TRUE(env.profile("carol.test", "follower").is_null());
}

// ---- CONN (spec §11.2) ---------------------------------------------------------------

TEST(ActionsCoreHooks, ConnectionRequestOutbound) {
  FakeEnv env;
  auto out = action("CONN", std::nullopt, kMe, "alice.test");
  run("CONN", "on_create", out, env);
  EXPECT_EQ(env.profile("alice.test", "following"), true);
  EXPECT_EQ(env.profile("alice.test", "connected"), "R");

  // Already connected: no downgrade to "request pending".
  FakeEnv env2;
  env2.profiles["alice.test"] = {{"id_tag", "alice.test"}, {"connected", true}};
  run("CONN", "on_create", out, env2);
  EXPECT_EQ(env2.profile("alice.test", "connected"), true);

  // A community does not follow.
  FakeEnv env3;
  run("CONN", "on_create", out, env3, context({}, "community"));
  EXPECT_TRUE(env3.profile("alice.test", "following").is_null());
  EXPECT_EQ(env3.profile("alice.test", "connected"), "R");
}

TEST(ActionsCoreHooks, ConnectionRequestAnswersAPendingInboundOne) {
  FakeEnv env;
  env.by_key["CONN:alice.test:bob.test"] = view("a1~theirs", "CONN", nullptr, "alice.test", kMe, "C");
  auto out = action("CONN", std::nullopt, kMe, "alice.test");
  run("CONN", "on_create", out, env);
  ASSERT_EQ(env.action_updates.size(), 1u);
  EXPECT_EQ(env.action_updates[0].first, "a1~theirs");
  EXPECT_EQ(env.action_updates[0].second, json({{"status", "A"}}));
  EXPECT_EQ(env.profile("alice.test", "connected"), true);
}

TEST(ActionsCoreHooks, ConnectionAcceptDeleteOutbound) {
  FakeEnv env;
  auto acc = action("CONN", "ACC", kMe, "alice.test");
  run("CONN", "on_create", acc, env);
  EXPECT_EQ(env.profile("alice.test", "connected"), true);
  auto del = action("CONN", "DEL", kMe, "alice.test");
  run("CONN", "on_create", del, env);
  EXPECT_EQ(env.profile("alice.test", "connected"), false);
}

TEST(ActionsCoreHooks, InboundRequestWaitsForConfirmation) {
  FakeEnv env;
  auto in = action("CONN", std::nullopt, "alice.test", kMe);
  auto r = run("CONN", "on_receive", in, env);
  EXPECT_EQ(r.status, 'C');
  EXPECT_TRUE(r.continue_processing);
  EXPECT_EQ(env.profile("alice.test", "follower"), true);
  EXPECT_TRUE(env.profile("alice.test", "connected").is_null());
  EXPECT_TRUE(env.created.empty());

  FakeEnv env2;
  r = run("CONN", "on_receive", in, env2, context({{"allow_followers", false}}));
  EXPECT_EQ(r.status, 'C');
  EXPECT_TRUE(env2.profile("alice.test", "follower").is_null());
}

TEST(ActionsCoreHooks, InboundRequestConnectionModes) {
  auto in = action("CONN", std::nullopt, "alice.test", kMe);
  FakeEnv ignore;
  auto r = run("CONN", "on_receive", in, ignore, context({{"connection_mode", "I"}}));
  EXPECT_EQ(r.status, 'D');
  EXPECT_FALSE(r.continue_processing);
  EXPECT_TRUE(ignore.profiles.empty());

  FakeEnv automatic;
  r = run("CONN", "on_receive", in, automatic, context({{"connection_mode", "A"}}));
  EXPECT_EQ(r.status, 'A');
  ASSERT_EQ(automatic.created.size(), 1u);
  EXPECT_EQ(automatic.created[0], json({{"type", "CONN"}, {"subtype", "ACC"}, {"audience", "alice.test"}}));
  EXPECT_EQ(automatic.profile("alice.test", "connected"), true);
}

TEST(ActionsCoreHooks, MutualRequestConnectsAtOnce) {
  FakeEnv env;
  env.by_key["CONN:bob.test:alice.test"] = view("a1~mine", "CONN", nullptr, kMe, "alice.test");
  auto in = action("CONN", std::nullopt, "alice.test", kMe);
  auto r = run("CONN", "on_receive", in, env, context({{"connection_mode", "I"}}));
  EXPECT_EQ(r.status, 'A');
  EXPECT_EQ(env.profile("alice.test", "connected"), true);
  EXPECT_EQ(env.profile("alice.test", "following"), true);
  EXPECT_EQ(env.profile("alice.test", "follower"), true);
  EXPECT_TRUE(env.created.empty());
}

TEST(ActionsCoreHooks, AcceptanceNeedsOurOwnRequest) {
  auto acc = action("CONN", "ACC", "carol.test", kMe);
  FakeEnv forged;
  auto r = run("CONN", "on_receive", acc, forged);
  EXPECT_EQ(r.status, 'D');
  EXPECT_FALSE(r.continue_processing);
  EXPECT_TRUE(forged.profiles.empty());

  // Our key holds an ACC (not a request): still forged.
  forged.by_key["CONN:bob.test:carol.test"] = view("a1~acc", "CONN", "ACC", kMe, "carol.test");
  r = run("CONN", "on_receive", acc, forged);
  EXPECT_EQ(r.status, 'D');

  FakeEnv real;
  real.by_key["CONN:bob.test:carol.test"] = view("a1~mine", "CONN", nullptr, kMe, "carol.test");
  r = run("CONN", "on_receive", acc, real);
  EXPECT_FALSE(r.status.has_value());
  EXPECT_EQ(real.profile("carol.test", "connected"), true);
  EXPECT_EQ(real.profile("carol.test", "following"), true);
}

TEST(ActionsCoreHooks, DisconnectIsANotification) {
  FakeEnv env;
  env.profiles["alice.test"] = {{"id_tag", "alice.test"}, {"connected", true}};
  auto del = action("CONN", "DEL", "alice.test", kMe);
  auto r = run("CONN", "on_receive", del, env);
  EXPECT_EQ(r.status, 'N');
  EXPECT_EQ(env.profile("alice.test", "connected"), false);
}

TEST(ActionsCoreHooks, AcceptAndRejectARequest) {
  auto in = action("CONN", std::nullopt, "alice.test", kMe);
  FakeEnv env;
  run("CONN", "on_accept", in, env);
  ASSERT_EQ(env.created.size(), 1u);
  EXPECT_EQ(env.created[0], json({{"type", "CONN"}, {"subtype", "ACC"}, {"audience", "alice.test"}}));
  EXPECT_EQ(env.profile("alice.test", "connected"), true);
  EXPECT_EQ(env.profile("alice.test", "following"), true);

  run("CONN", "on_reject", in, env);
  EXPECT_EQ(env.profile("alice.test", "connected"), false);
  EXPECT_EQ(env.profile("alice.test", "following"), false);
}

// ---- SUBS / INVT (spec §11.3) ------------------------------------------------------------

json conv(const std::string& issuer, const std::string& flags) {
  json c = view("a1~conv", "CONV", nullptr, issuer);
  c["flags"] = flags;
  return c;
}

ActionFields subs(const std::optional<std::string>& subtype = std::nullopt) {
  auto a = action("SUBS", subtype, "carol.test", kMe);
  a.subject = "a1~conv";
  return a;
}

TEST(ActionsCoreHooks, SubscriptionToAnOpenConversation) {
  FakeEnv env;
  env.by_id["a1~conv"] = conv(kMe, "RCO");
  auto r = run("SUBS", "on_receive", subs(), env);
  EXPECT_EQ(r.status, 'A');
  EXPECT_TRUE(env.action_updates.empty());
}

TEST(ActionsCoreHooks, SubscriptionWithAnInvitationRetiresIt) {
  FakeEnv env;
  env.by_id["a1~conv"] = conv(kMe, "rco");
  env.by_key["INVT:a1~conv:carol.test"] = view("a1~invt", "INVT", nullptr, kMe, "carol.test");
  auto r = run("SUBS", "on_receive", subs(), env);
  EXPECT_EQ(r.status, 'A');
  ASSERT_EQ(env.action_updates.size(), 1u);
  EXPECT_EQ(env.action_updates[0].first, "a1~invt");
  EXPECT_EQ(env.action_updates[0].second, json({{"status", "D"}}));
}

TEST(ActionsCoreHooks, SubscriptionByTheCreator) {
  FakeEnv env;
  env.by_id["a1~conv"] = conv("carol.test", "rco");
  EXPECT_EQ(run("SUBS", "on_receive", subs(), env).status, 'A');
}

TEST(ActionsCoreHooks, SubscriptionToAClosedConversationIsRejected) {
  FakeEnv env;
  env.by_id["a1~conv"] = conv(kMe, "rco");
  auto r = run("SUBS", "on_receive", subs(), env);
  EXPECT_EQ(r.status, 'D');
  EXPECT_FALSE(r.continue_processing);

  FakeEnv unknown;  // subject not held here
  unknown.by_key["INVT:a1~conv:carol.test"] = view("a1~invt", "INVT", nullptr, kMe, "carol.test");
  r = run("SUBS", "on_receive", subs(), unknown);
  EXPECT_EQ(r.status, 'D');
  EXPECT_TRUE(unknown.action_updates.empty());

  FakeEnv leave;
  EXPECT_EQ(run("SUBS", "on_receive", subs("DEL"), leave).status, 'A');
}

TEST(ActionsCoreHooks, InvitationRestsAtConfirmationForTheInvitee) {
  FakeEnv env;
  auto invt = action("INVT", std::nullopt, "alice.test", kMe);
  invt.subject = "a1~conv";
  EXPECT_EQ(run("INVT", "on_receive", invt, env).status, 'C');
  invt.audience = "carol.test";  // the copy at the CONV home
  EXPECT_EQ(run("INVT", "on_receive", invt, env).status, 'A');
  invt.subtype = "DEL";
  invt.audience = kMe;
  EXPECT_EQ(run("INVT", "on_receive", invt, env).status, 'A');
}

TEST(ActionsCoreHooks, AcceptingAnInvitationSubscribes) {
  FakeEnv env;
  env.by_id["a1~conv"] = conv("alice.test", "rco");
  auto invt = action("INVT", std::nullopt, "dave.test", kMe);
  invt.subject = "a1~conv";
  invt.content = json{{"role", "moderator"}};
  run("INVT", "on_accept", invt, env);
  ASSERT_EQ(env.created.size(), 1u);
  EXPECT_EQ(env.created[0],
            json({{"type", "SUBS"}, {"subject", "a1~conv"}, {"audience", "alice.test"}, {"content", {{"role", "moderator"}, {"invitedBy", "dave.test"}}}}));

  invt.content.reset();
  env.created.clear();
  run("INVT", "on_accept", invt, env);
  ASSERT_EQ(env.created.size(), 1u);
  EXPECT_EQ(env.created[0]["content"]["role"], "member");

  FakeEnv missing;
  run("INVT", "on_accept", invt, missing);
  EXPECT_TRUE(missing.created.empty());
}

// ---- STAT, APRV and the rest ----------------------------------------------------------------

ActionFields stat(const std::string& issuer, int64_t at) {
  auto a = action("STAT", std::nullopt, issuer);
  a.parent = "a1~post";
  a.created_at = at;
  a.content = json{{"r", "1,V1"}, {"c", 2}, {"ct", 1700000100}, {"rp", 0}};
  return a;
}

TEST(ActionsCoreHooks, StatMirrorsTheOwnersCounters) {
  FakeEnv env;
  env.by_id["a1~post"] = view("a1~post", "POST", nullptr, "alice.test");
  run("STAT", "on_receive", stat("alice.test", 1700000200), env);
  json merged = json::object();
  for (const auto& [target, set] : env.action_updates) {
    EXPECT_EQ(target, "a1~post");
    merged.update(set);
  }
  EXPECT_EQ(merged, json({{"x", {{"stat_at", 1700000200}}}, {"reactions", "1,V1"}, {"comments", 2}, {"comments_ts", 1700000100}}));
}

TEST(ActionsCoreHooks, StatIsIgnoredUnlessFreshAndFromTheOwner) {
  FakeEnv stale;
  json post = view("a1~post", "POST", nullptr, "alice.test");
  post["x"] = {{"stat_at", 1700000300}};
  stale.by_id["a1~post"] = post;
  run("STAT", "on_receive", stat("alice.test", 1700000200), stale);
  EXPECT_TRUE(stale.action_updates.empty());

  FakeEnv forged;
  forged.by_id["a1~post"] = view("a1~post", "POST", nullptr, "alice.test");
  run("STAT", "on_receive", stat("carol.test", 1700000200), forged);
  EXPECT_TRUE(forged.action_updates.empty());

  FakeEnv wall;  // a post on carol's wall: carol (the audience) owns its counters
  wall.by_id["a1~post"] = view("a1~post", "POST", nullptr, "alice.test", "carol.test");
  run("STAT", "on_receive", stat("alice.test", 1700000200), wall);
  EXPECT_TRUE(wall.action_updates.empty());
  run("STAT", "on_receive", stat("carol.test", 1700000200), wall);
  EXPECT_FALSE(wall.action_updates.empty());

  FakeEnv mine;  // we own the subject: our own counters are authoritative
  mine.by_id["a1~post"] = view("a1~post", "POST", nullptr, kMe);
  run("STAT", "on_receive", stat(kMe, 1700000200), mine);
  EXPECT_TRUE(mine.action_updates.empty());

  FakeEnv absent;
  run("STAT", "on_receive", stat("alice.test", 1700000200), absent);
  EXPECT_TRUE(absent.action_updates.empty());
}

TEST(ActionsCoreHooks, ApprovalActivatesOurOwnAction) {
  auto aprv = action("APRV", std::nullopt, "alice.test", kMe);
  aprv.subject = "a1~post";
  FakeEnv env;
  env.by_id["a1~post"] = view("a1~post", "POST", nullptr, kMe, "alice.test", "P");
  run("APRV", "on_receive", aprv, env);
  ASSERT_EQ(env.action_updates.size(), 1u);
  EXPECT_EQ(env.action_updates[0], (std::pair<std::string, json>{"a1~post", {{"status", "A"}}}));

  FakeEnv theirs;
  theirs.by_id["a1~post"] = view("a1~post", "POST", nullptr, "carol.test");
  run("APRV", "on_receive", aprv, theirs);
  EXPECT_TRUE(theirs.action_updates.empty());
}

TEST(ActionsCoreHooks, ConfirmationTypes) {
  FakeEnv env;
  auto share = action("FSHR", std::nullopt, "alice.test", kMe);
  EXPECT_EQ(run("FSHR", "on_receive", share, env).status, 'C');
  share.subtype = "WRITE";
  EXPECT_EQ(run("FSHR", "on_receive", share, env).status, 'C');
  share.subtype = "DEL";
  EXPECT_EQ(run("FSHR", "on_receive", share, env).status, 'A');
  EXPECT_EQ(run("PRINVT", "on_receive", action("PRINVT", std::nullopt, "alice.test", kMe), env).status, 'C');
}

TEST(ActionsCoreHooks, IdentityRegistrationIsRefused) {
  FakeEnv env;
  auto reg = action("IDP", "REG", "registrar.test", kMe);
  reg.content = json{{"idTag", "new.bob.test"}};
  EXPECT_THROW(run("IDP:REG", "on_receive", reg, env), ValidationError);
}

TEST(ActionsCoreHooks, MessageNotifiesTheTenant) {
  FakeEnv env;
  auto msg = action("MSG", std::nullopt, "alice.test", kMe);
  run("MSG", "on_receive", msg, env);
  ASSERT_EQ(env.notifications.size(), 1u);
  EXPECT_EQ(env.notifications[0]["user"], kMe);
  EXPECT_EQ(env.notifications[0]["type"], "message");
  EXPECT_EQ(env.notifications[0]["action_id"], "a1~this");
  msg.subtype = "DEL";
  run("MSG", "on_receive", msg, env);
  EXPECT_EQ(env.notifications.size(), 1u);
}

}  // namespace
