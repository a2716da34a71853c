// ABAC engine (core.md §8, §11 "ABAC"): the decision table over every
// visibility × subject kind × operation with relationships stored through a
// real meta adapter (meta-sqlite, and meta-postgres when CUMULO_TEST_PG is
// set), the §8.9 worked examples, the §11 bullets, every policy operator,
// grants and token scopes, and the relationship resolver's batching and cache.
// Expected values are written from the spec's rules, not from the engine.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "auth/abac.hpp"
#include "plugins/adapters.hpp"
#include "support/pg_test.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cumulo::auth;
using cumulo::plugins::Instance;
using cumulo::plugins::MetaHandle;
using cumulo::plugins::PluginManager;
using cumulo::plugins::TenantRef;
namespace pgt = cumulo::test::pg;
using Op = Condition::Op;

namespace {

const TenantRef kAlice{1, "alice.test"};
constexpr int64_t kNow = 1'700'000'000;

PluginManager& pm() {
  // Touch spdlog's registry first: statics die in reverse order, and the
  // manager logs while it unloads plugins at exit.
  spdlog::set_level(spdlog::level::warn);
  static PluginManager m({}, fs::temp_directory_path() / ("cumulo-abac-shadow-" + std::to_string(::getpid())));
  static bool loaded = [] {
    m.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "sqlite.so");
    m.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "postgres.so");
    return true;
  }();
  (void)loaded;
  return m;
}

Subject user(std::string id, int level = kLevelVerified, std::vector<std::string> roles = {}) {
  Subject s;
  s.id_tag = std::move(id);
  s.authenticated = true;
  s.access_level = level;
  s.roles = std::move(roles);
  return s;
}
Subject anonymous() { return Subject{}; }

Object file(std::optional<char> vis, std::string owner = "alice.test") {
  Object o;
  o.id = "f1~abc";
  o.owner = std::move(owner);
  o.visibility = vis;
  o.created_at = kNow - 100;
  return o;
}

bool allowed(const Subject& s, std::string_view action, const Object& o, const Policy& top = {}, const Policy& bottom = {}) {
  return decide(s, action, o, Env{kNow}, top, bottom).allow;
}

// ---- the decision table through a real meta adapter ---------------------------

// Subjects as the owner tenant (alice.test) knows them: the profile stored
// through the adapter, plus token roles.
struct Kind {
  const char* name;
  const char* id_tag;  // "" = anonymous
  json profile;        // null = no profile stored
  std::vector<std::string> token_roles;
};

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {"owner", "alice.test", nullptr, {}},
      {"connected", "conn.test", {{"following", true}, {"follower", true}, {"connected", true}}, {}},
      {"requested", "req.test", {{"connected", "R"}}, {}},
      {"follower", "fol.test", {{"follower", true}}, {}},
      {"followed_only", "fan.test", {{"following", true}}, {}},  // alice follows them, not the reverse
      {"stranger", "stranger.test", nullptr, {}},
      {"anonymous", "", nullptr, {}},
      {"blocked", "blocked.test", {{"status", "B"}, {"follower", true}, {"roles", {"moderator"}}}, {}},
      {"audience", "aud.test", nullptr, {}},
      {"subscriber", "sub.test", nullptr, {}},
      {"leader", "leader.test", {{"roles", {"leader"}}}, {}},
      {"sadm", "admin.test", nullptr, {"SADM"}},
      {"moderator", "mod.test", {{"roles", {"moderator"}}}, {}},
  };
  return k;
}

// Visibility columns: P V 2 F C S NULL Z(unknown).
const std::vector<std::optional<char>> kVis = {'P', 'V', '2', 'F', 'C', 'S', std::nullopt, 'Z'};
// Expected `read` per kind, one char per visibility column (1 = ALLOW).
// P: anyone not blocked; V: authenticated; 2: owner only (reserved); F:
// follower or connected; C: mutual connection; S: members; NULL/Z: owner or
// audience; leader passes everything; SADM and moderator get no read rights.
const std::map<std::string, std::string> kRead = {
    {"owner", "11111111"},    {"connected", "11011000"}, {"requested", "11000000"}, {"follower", "11010000"}, {"followed_only", "11000000"},
    {"stranger", "11000000"}, {"anonymous", "10000000"}, {"blocked", "00000000"},   {"audience", "11000011"}, {"subscriber", "11000100"},
    {"leader", "11111111"},   {"sadm", "11000000"},      {"moderator", "11000000"},
};
// Expected for the other operations, the same for every visibility:
// update/delete/write need ownership (or a write grant, none here); create
// needs authentication (blocked counts as None); admin needs moderator+ or SADM.
struct Ops {
  bool write, create, admin;
};
const std::map<std::string, Ops> kOther = {
    {"owner", {1, 1, 1}},    {"connected", {0, 1, 0}}, {"requested", {0, 1, 0}}, {"follower", {0, 1, 0}}, {"followed_only", {0, 1, 0}},
    {"stranger", {0, 1, 0}}, {"anonymous", {0, 0, 0}}, {"blocked", {0, 0, 0}},   {"audience", {0, 1, 0}}, {"subscriber", {0, 1, 0}},
    {"leader", {1, 1, 1}},   {"sadm", {0, 1, 1}},      {"moderator", {0, 1, 1}},
};

class AbacMeta : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      if (auto why = pgt::skip_reason(); !why.empty()) GTEST_SKIP() << "meta-postgres case skipped: " << why;
      ci_ = pgt::conninfo();
      schema_ = pgt::unique_schema("abac");
      inst_ = pm().create(CM_KIND_META, "meta-postgres", json{{"conninfo", ci_}, {"schema", schema_}}.dump());
    } else {
      static std::atomic<int> n{0};
      dir_ = fs::temp_directory_path() / ("cumulo-abac-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
      fs::remove_all(dir_);
      fs::create_directories(dir_);
      inst_ = pm().create(CM_KIND_META, "meta-sqlite", json{{"path", (dir_ / "meta.db").string()}}.dump());
    }
    meta_ = MetaHandle(inst_);
    meta_.create_tenant(json{{"idTag", kAlice.id_tag}, {"type", "P"}, {"tnId", kAlice.tn_id}}.dump());
  }
  void TearDown() override {
    meta_ = MetaHandle();
    inst_.reset();
    if (!schema_.empty()) pgt::drop_schema(ci_, schema_);
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void store_profiles() {
    for (const auto& k : kinds())
      if (!k.profile.is_null()) {
        json p = k.profile;
        p["idTag"] = k.id_tag;
        meta_.upsert_profile(kAlice, p.dump());
      }
  }
  Subject subject_of(RelationshipResolver& r, const Kind& k) {
    Subject s;
    s.id_tag = k.id_tag;
    s.authenticated = *k.id_tag != '\0';
    s.roles = k.token_roles;
    return r.enrich(kAlice, s);
  }

  std::shared_ptr<Instance> inst_;
  MetaHandle meta_;
  std::string ci_, schema_;
  fs::path dir_;
};

TEST_P(AbacMeta, DecisionTable) {
  store_profiles();
  RelationshipResolver resolver(meta_);
  int checked = 0;
  for (const auto& k : kinds()) {
    const Subject s = subject_of(resolver, k);
    const std::string& read = kRead.at(k.name);
    const Ops& other = kOther.at(k.name);
    for (size_t v = 0; v < kVis.size(); ++v) {
      Object o = file(kVis[v]);
      o.audience = {"aud.test"};
      o.members = {"sub.test"};
      const std::string where = std::string(k.name) + " on visibility " + (kVis[v] ? std::string(1, *kVis[v]) : "NULL");
      EXPECT_EQ(allowed(s, "file:read", o), read[v] == '1') << where << " file:read: " << decide(s, "file:read", o, Env{kNow}, {}, {}).reason;
      for (const char* op : {"file:update", "file:delete", "file:write"}) EXPECT_EQ(allowed(s, op, o), other.write) << where << " " << op;
      EXPECT_EQ(allowed(s, "action:create", o), other.create) << where << " create";
      EXPECT_EQ(allowed(s, "profile:admin", o), other.admin) << where << " admin";
      checked += 6;
    }
  }
  EXPECT_EQ(checked, 13 * 8 * 6);
}

// One list_profiles call resolves many identities the same way as one
// get_profile each; results are cached for the TTL and invalidate() drops them.
TEST_P(AbacMeta, ResolverBatchesCachesAndInvalidates) {
  store_profiles();
  auto now = std::chrono::steady_clock::time_point{};
  RelationshipResolver batch(meta_, std::chrono::seconds(30), [&] { return now; });
  RelationshipResolver single(meta_);
  std::vector<std::string> tags;
  for (const auto& k : kinds())
    if (*k.id_tag) tags.push_back(k.id_tag);
  auto rels = batch.relations(kAlice, tags);
  EXPECT_EQ(batch.lookups(), 1u);  // no N+1
  ASSERT_EQ(rels.size(), tags.size());
  for (const auto& t : tags) {
    Relation one = single.relation(kAlice, t);
    EXPECT_EQ(rels[t].level, one.level) << t;
    EXPECT_EQ(rels[t].roles, one.roles) << t;
  }
  EXPECT_EQ(rels["conn.test"].level, kLevelConnected);
  EXPECT_EQ(rels["req.test"].level, kLevelVerified);
  EXPECT_EQ(rels["fol.test"].level, kLevelFollower);
  EXPECT_EQ(rels["fan.test"].level, kLevelVerified);
  EXPECT_EQ(rels["blocked.test"].level, kLevelNone);
  EXPECT_TRUE(rels["blocked.test"].roles.empty());
  EXPECT_EQ(rels["stranger.test"].level, kLevelVerified);
  EXPECT_EQ(rels["leader.test"].roles, std::vector<std::string>{"leader"});

  // Cached: a follow recorded now is not seen until invalidated or expired.
  meta_.upsert_profile(kAlice, json{{"idTag", "stranger.test"}, {"follower", true}}.dump());
  EXPECT_EQ(batch.relation(kAlice, "stranger.test").level, kLevelVerified);
  EXPECT_EQ(batch.relations(kAlice, tags).size(), tags.size());
  EXPECT_EQ(batch.lookups(), 1u);
  batch.invalidate("stranger.test");
  EXPECT_EQ(batch.relation(kAlice, "stranger.test").level, kLevelFollower);
  EXPECT_EQ(batch.lookups(), 2u);

  // Expiry with the injected clock: one batch re-fetches every stale entry.
  meta_.upsert_profile(kAlice, json{{"idTag", "req.test"}, {"connected", true}}.dump());
  now += std::chrono::seconds(29);
  EXPECT_EQ(batch.relation(kAlice, "req.test").level, kLevelVerified);
  now += std::chrono::seconds(2);
  auto again = batch.relations(kAlice, tags);
  EXPECT_EQ(batch.lookups(), 3u);
  EXPECT_EQ(again["req.test"].level, kLevelConnected);
  // Per tenant: bob.test's view of the same identity is separate.
  EXPECT_EQ(batch.relation(TenantRef{2, "bob.test"}, "req.test").level, kLevelVerified);
}

INSTANTIATE_TEST_SUITE_P(Abac, AbacMeta, ::testing::Values("sqlite", "postgres"), [](const auto& i) { return i.param; });

// ---- §8.9 worked examples ------------------------------------------------------

TEST(AbacExamples, PublicFileReadByStranger) { EXPECT_TRUE(allowed(user("bob.test"), "file:read", file('P'))); }

TEST(AbacExamples, ConnectedOnlyFile) {
  EXPECT_FALSE(allowed(user("bob.test", kLevelVerified), "file:read", file('C')));
  EXPECT_TRUE(allowed(user("charlie.test", kLevelConnected), "file:read", file('C')));
}

TEST(AbacExamples, ProfileAdmin) {
  Object profile;
  profile.id = "carol.test";
  profile.owner = "carol.test";
  EXPECT_TRUE(allowed(user("root.test", kLevelVerified, {"admin"}), "profile:admin", profile));
  EXPECT_TRUE(allowed(user("root.test", kLevelVerified, {"SADM"}), "profile:admin", profile));
  EXPECT_FALSE(allowed(user("bob.test", kLevelVerified, {"user"}), "profile:admin", profile));
}

TEST(AbacExamples, ExpiredObjectDeniedByTopEvenWhenPublic) {
  Policy top = {{Condition::all({Condition::cmp(Op::LessThan, "expires_at", Ref{"env.now"}), Condition::cmp(Op::Equals, "operation", Value("read"))}),
                 Effect::Deny, "expired"}};
  Object o = file('P');
  o.expires_at = kNow - 1;
  Decision d = decide(user("bob.test"), "file:read", o, Env{kNow}, top, {});
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.reason, "top policy: expired");
  EXPECT_FALSE(allowed(anonymous(), "file:read", o, top));
  o.expires_at = kNow + 1;
  EXPECT_TRUE(allowed(user("bob.test"), "file:read", o, top));
  o.expires_at.reset();  // no expiry: the comparison is false, the rule does not match
  EXPECT_TRUE(allowed(user("bob.test"), "file:read", o, top));
}

TEST(AbacExamples, OneWayConnectionIsNotConnected) {
  // Alice→Bob only is stored on alice's node as connected "R" (requested).
  Relation r = relation_from_profile(R"({"idTag":"bob.test","connected":"R","following":true})");
  EXPECT_EQ(r.level, kLevelVerified);
  EXPECT_FALSE(allowed(user("bob.test", r.level), "file:read", file('C')));
  EXPECT_EQ(relation_from_profile(R"({"idTag":"bob.test","connected":true})").level, kLevelConnected);
}

TEST(AbacExamples, OwnerEveryVisibilityAndDirectAudience) {
  for (auto v : kVis) EXPECT_TRUE(allowed(user("alice.test"), "file:read", file(v))) << (v ? *v : '-');
  Object msg = file(std::nullopt);
  msg.audience = {"bob.test"};
  EXPECT_TRUE(allowed(user("bob.test"), "action:read", msg));
  EXPECT_FALSE(allowed(user("carol.test"), "action:read", msg));
  EXPECT_FALSE(allowed(anonymous(), "action:read", msg));
}

// ---- §11 ABAC bullets -----------------------------------------------------------

TEST(AbacConformance, PublicReadAnonymousButNoStrangerWrite) {
  EXPECT_TRUE(allowed(anonymous(), "file:read", file('P')));
  EXPECT_FALSE(allowed(user("bob.test"), "file:write", file('P')));
}

TEST(AbacConformance, Verified) {
  EXPECT_FALSE(allowed(anonymous(), "file:read", file('V')));
  EXPECT_TRUE(allowed(user("bob.test"), "file:read", file('V')));
}

TEST(AbacConformance, Follower) {
  EXPECT_TRUE(allowed(user("bob.test", kLevelFollower), "file:read", file('F')));
  EXPECT_FALSE(allowed(user("bob.test", kLevelVerified), "file:read", file('F')));
  EXPECT_TRUE(allowed(user("alice.test"), "file:read", file('F')));
}

TEST(AbacConformance, ConnectedBothWaysOnly) {
  EXPECT_TRUE(allowed(user("bob.test", relation_from_profile(R"({"connected":true})").level), "file:read", file('C')));
  EXPECT_FALSE(allowed(user("bob.test", relation_from_profile(R"({"connected":"R"})").level), "file:read", file('C')));
}

TEST(AbacConformance, DirectAudience) {
  Object o = file(std::nullopt);
  o.audience = {"bob.test"};
  EXPECT_TRUE(allowed(user("bob.test"), "file:read", o));
  EXPECT_FALSE(allowed(user("carol.test", kLevelConnected), "file:read", o));
}

TEST(AbacConformance, SecondDegreeReserved) {
  EXPECT_TRUE(allowed(user("alice.test"), "file:read", file('2')));
  for (int level : {kLevelVerified, kLevelFollower, kLevelConnected}) EXPECT_FALSE(allowed(user("bob.test", level), "file:read", file('2'))) << level;
  EXPECT_FALSE(allowed(anonymous(), "file:read", file('2')));
}

TEST(AbacConformance, TopBeatsBottomAndBottomBeatsDefaults) {
  const Condition is_bob = Condition::cmp(Op::Equals, "subject.id_tag", Value("bob.test"));
  Policy top = {{is_bob, Effect::Deny, "bob banned"}};
  Policy bottom = {{is_bob, Effect::Allow, "bob allowed"}};
  EXPECT_FALSE(allowed(user("bob.test"), "file:read", file('P'), top, bottom));
  // Defaults deny bob on a C file; the BOTTOM rule allows it.
  EXPECT_FALSE(allowed(user("bob.test"), "file:read", file('C')));
  Decision d = decide(user("bob.test"), "file:read", file('C'), Env{kNow}, {}, bottom);
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(d.reason, "bottom policy: bob allowed");
  // A TOP deny beats even the owner default.
  Policy top_all = {{Condition::cmp(Op::Equals, "visibility", Value(Char{'P'})), Effect::Deny, "no public"}};
  EXPECT_FALSE(allowed(user("alice.test"), "file:read", file('P'), top_all));
}

TEST(AbacConformance, BareActionDenied) {
  for (const char* a : {"read", "", ":read", "file:", "file:read:x"}) {
    EXPECT_FALSE(allowed(user("alice.test"), a, file('P'))) << a;
    EXPECT_FALSE(allowed(user("leader.test", kLevelVerified, {"leader"}), a, file('P'))) << a;
  }
}

TEST(AbacConformance, LargePublicFileDenied) {
  // TOP: public and size > 100 MB → DENY.
  Policy top = {
      {Condition::all({Condition::cmp(Op::Equals, "visibility", Value(Char{'P'})), Condition::cmp(Op::GreaterThan, "size", Value(int64_t{100} << 20))}),
       Effect::Deny, "public file over 100 MB"}};
  Object big = file('P');
  big.size = (int64_t{100} << 20) + 1;
  EXPECT_FALSE(allowed(anonymous(), "file:read", big, top));
  EXPECT_FALSE(allowed(user("alice.test"), "file:read", big, top));
  Object small = file('P');
  small.size = int64_t{100} << 20;
  EXPECT_TRUE(allowed(anonymous(), "file:read", small, top));
  Object private_big = file('C');
  private_big.size = big.size;
  EXPECT_TRUE(allowed(user("alice.test"), "file:read", private_big, top));
}

TEST(AbacConformance, ImmutableAfter24Hours) {
  // TOP: created_at < now - 86400 → DENY_WRITE.
  Policy top = {{Condition::cmp(Op::LessThan, "created_at", Ref{"env.now", -86400}), Effect::DenyWrite, "actions immutable after 24 h"}};
  Object old = file('P');
  old.created_at = kNow - 86401;
  for (const char* op : {"action:update", "action:delete", "action:write"}) EXPECT_FALSE(allowed(user("alice.test"), op, old, top)) << op;
  EXPECT_TRUE(allowed(user("alice.test"), "action:read", old, top));
  EXPECT_TRUE(allowed(anonymous(), "action:read", old, top));
  Object young = file('P');
  young.created_at = kNow - 86399;
  EXPECT_TRUE(allowed(user("alice.test"), "action:update", young, top));
}

// ---- [impl] restrictions, grants, scopes ----------------------------------------

TEST(AbacImpl, VisibilityGrantsReadOnly) {
  for (int level : {kLevelVerified, kLevelFollower, kLevelConnected})
    for (auto v : kVis)
      for (const char* op : {"file:update", "file:delete", "file:write"}) EXPECT_FALSE(allowed(user("bob.test", level), op, file(v))) << level << op;
}

TEST(AbacImpl, SharedWithGrants) {
  Object o = file('C');
  o.shared_with = {{"reader.test", false}, {"writer.test", true}};
  EXPECT_TRUE(allowed(user("reader.test"), "file:read", o));
  EXPECT_FALSE(allowed(user("reader.test"), "file:write", o));
  for (const char* op : {"file:read", "file:write", "file:update", "file:delete"}) EXPECT_TRUE(allowed(user("writer.test"), op, o)) << op;
  EXPECT_FALSE(allowed(user("other.test"), "file:read", o));
  EXPECT_FALSE(allowed(user("reader.test", kLevelNone), "file:read", o));  // blocked
}

TEST(AbacImpl, TokenScopes) {
  Object o = file('C');  // f1~abc
  Subject guest = anonymous();
  guest.scope = "file:f1~abc:R";
  EXPECT_TRUE(allowed(guest, "file:read", o));
  EXPECT_FALSE(allowed(guest, "file:write", o));
  guest.scope = "file:f1~abc:W";
  EXPECT_TRUE(allowed(guest, "file:write", o));
  EXPECT_TRUE(allowed(guest, "file:read", o));
  EXPECT_FALSE(allowed(guest, "file:admin", o));
  // Another object or resource type is not covered.
  guest.scope = "file:f1~other:W";
  EXPECT_FALSE(allowed(guest, "file:read", o));
  guest.scope = "action:f1~abc:W";
  EXPECT_FALSE(allowed(guest, "file:read", o));
  // A confined token of the owner acts anonymously outside its scope: only
  // public reads remain.
  Subject owner = user("alice.test", kLevelVerified, {"leader"});
  owner.scope = "file:f1~other:R";
  EXPECT_FALSE(allowed(owner, "file:read", o));
  EXPECT_FALSE(allowed(owner, "file:delete", o));
  EXPECT_TRUE(allowed(owner, "file:read", file('P')));
  // Plain scope words do not confine.
  owner.scope = "read write";
  EXPECT_TRUE(allowed(owner, "file:delete", o));
  // TOP still beats a scope grant.
  guest.scope = "file:f1~abc:W";
  Policy top = {{Condition::cmp(Op::Equals, "id", Value("f1~abc")), Effect::Deny, "locked"}};
  EXPECT_FALSE(allowed(guest, "file:read", o, top));
}

TEST(AbacImpl, GuestIdTagIsAnonymous) {
  Subject g = user("guest", kLevelConnected);
  EXPECT_FALSE(allowed(g, "file:read", file('V')));
  EXPECT_FALSE(allowed(g, "action:create", file('P')));
  Subject unauth = user("bob.test", kLevelConnected);
  unauth.authenticated = false;
  EXPECT_FALSE(allowed(unauth, "file:read", file('C')));
}

TEST(AbacImpl, ModeratorActsOnLowerRanksOnly) {
  Object target;
  target.id = target.owner = "carol.test";
  target.custom["roles"] = Array{"contributor"};
  EXPECT_TRUE(allowed(user("mod.test", kLevelVerified, {"moderator"}), "profile:admin", target));
  target.custom["roles"] = Array{"moderator"};
  EXPECT_FALSE(allowed(user("mod.test", kLevelVerified, {"moderator"}), "profile:admin", target));
  EXPECT_TRUE(allowed(user("lead.test", kLevelVerified, {"leader"}), "profile:admin", target));
  EXPECT_TRUE(allowed(user("root.test", kLevelVerified, {"SADM"}), "profile:admin", target));
  EXPECT_FALSE(allowed(user("c.test", kLevelVerified, {"contributor"}), "profile:admin", target));
}

TEST(AbacImpl, AllowDeleteOnlyDeletes) {
  Policy bottom = {{Condition::has_role("moderator"), Effect::AllowDelete, "moderators delete"}};
  Subject mod = user("mod.test", kLevelVerified, {"moderator"});
  EXPECT_TRUE(allowed(mod, "action:delete", file('C'), {}, bottom));
  EXPECT_FALSE(allowed(mod, "action:update", file('C'), {}, bottom));
  EXPECT_FALSE(allowed(mod, "action:read", file('C'), {}, bottom));
}

TEST(AbacImpl, ObjectAttributes) {
  Object o = file('F');
  o.audience = {"a"};
  o.members = {"m"};
  o.shared_with = {{"s", true}};
  o.size = 5;
  o.custom["type"] = std::string("team");
  EXPECT_EQ(o.get_attr("visibility"), std::optional<Value>(Char{'F'}));
  EXPECT_EQ(o.get_attr("owner"), std::optional<Value>(std::string("alice.test")));
  EXPECT_EQ(o.get_attr("shared_with"), std::optional<Value>(Array{"s"}));
  EXPECT_EQ(o.get_attr("subscribers"), std::optional<Value>(Array{"m"}));
  EXPECT_EQ(o.get_attr("size"), std::optional<Value>(int64_t{5}));
  EXPECT_EQ(o.get_attr("type"), std::optional<Value>(std::string("team")));
  EXPECT_FALSE(o.get_attr("expires_at"));
  EXPECT_FALSE(o.get_attr("nope"));
  EXPECT_FALSE(file(std::nullopt).get_attr("visibility"));
}

// ---- policy operators ------------------------------------------------------------

TEST(AbacPolicy, EveryOperator) {
  const Subject s = user("bob.test", kLevelFollower, {"supporter"});
  Object o = file('P');
  o.size = 10;
  o.audience = {"bob.test", "carol.test"};
  o.custom["verified"] = true;
  auto ev = [&](const Condition& c) { return evaluate(c, s, "file:read", o, Env{kNow}); };
  auto cmp = [](Op op, std::string attr, Operand v) { return Condition::cmp(op, std::move(attr), std::move(v)); };

  EXPECT_TRUE(ev(cmp(Op::Equals, "size", Value(int64_t{10}))));
  EXPECT_FALSE(ev(cmp(Op::Equals, "size", Value(int64_t{11}))));
  EXPECT_TRUE(ev(cmp(Op::Equals, "visibility", Value("P"))));  // Char == 1-char string
  EXPECT_TRUE(ev(cmp(Op::Equals, "verified", Value(true))));
  EXPECT_FALSE(ev(cmp(Op::Equals, "owner", Ref{"subject.id_tag"})));
  EXPECT_TRUE(ev(cmp(Op::NotEquals, "owner", Ref{"subject.id_tag"})));
  EXPECT_FALSE(ev(cmp(Op::NotEquals, "size", Value(int64_t{10}))));
  EXPECT_TRUE(ev(cmp(Op::GreaterThan, "size", Value(int64_t{9}))));
  EXPECT_FALSE(ev(cmp(Op::GreaterThan, "size", Value(int64_t{10}))));
  EXPECT_TRUE(ev(cmp(Op::LessThan, "size", Value(int64_t{11}))));
  EXPECT_FALSE(ev(cmp(Op::LessThan, "size", Value(int64_t{10}))));
  EXPECT_TRUE(ev(cmp(Op::GreaterThanOrEqual, "size", Value(int64_t{10}))));
  EXPECT_FALSE(ev(cmp(Op::GreaterThanOrEqual, "size", Value(int64_t{11}))));
  EXPECT_TRUE(ev(cmp(Op::LessThanOrEqual, "size", Value(int64_t{10}))));
  EXPECT_FALSE(ev(cmp(Op::LessThanOrEqual, "size", Value(int64_t{9}))));
  EXPECT_FALSE(ev(cmp(Op::GreaterThan, "owner", Value(int64_t{0}))));  // not a number
  EXPECT_TRUE(ev(cmp(Op::Contains, "audience", Ref{"subject.id_tag"})));
  EXPECT_FALSE(ev(cmp(Op::Contains, "audience", Value("dave.test"))));
  EXPECT_TRUE(ev(cmp(Op::NotContains, "audience", Value("dave.test"))));
  EXPECT_FALSE(ev(cmp(Op::NotContains, "audience", Value("carol.test"))));
  EXPECT_TRUE(ev(cmp(Op::In, "visibility", Value(Array{"P", "V"}))));
  EXPECT_FALSE(ev(cmp(Op::In, "visibility", Value(Array{"F", "C"}))));
  EXPECT_TRUE(ev(cmp(Op::In, "operation", Value(Array{"read", "list"}))));
  EXPECT_TRUE(ev(Condition::has_role("supporter")));
  EXPECT_FALSE(ev(Condition::has_role("leader")));
  const Condition t = cmp(Op::Equals, "resource", Value("file")), f = cmp(Op::Equals, "resource", Value("action"));
  EXPECT_TRUE(ev(Condition::all({t, t})));
  EXPECT_FALSE(ev(Condition::all({t, f})));
  EXPECT_FALSE(ev(Condition::all({})));
  EXPECT_TRUE(ev(Condition::any({f, t})));
  EXPECT_FALSE(ev(Condition::any({f, f})));
  EXPECT_FALSE(ev(Condition::any({})));
  // Subject and environment attributes.
  EXPECT_TRUE(ev(cmp(Op::Equals, "subject.access_level", Value(int64_t{kLevelFollower}))));
  EXPECT_TRUE(ev(cmp(Op::Equals, "subject.authenticated", Value(true))));
  EXPECT_TRUE(ev(cmp(Op::Contains, "subject.roles", Value("supporter"))));
  EXPECT_TRUE(ev(cmp(Op::Equals, "action", Value("file:read"))));
  EXPECT_TRUE(ev(cmp(Op::LessThan, "created_at", Ref{"env.now", 1})));
  EXPECT_FALSE(ev(cmp(Op::LessThan, "created_at", Ref{"env.now", -100})));
}

TEST(AbacPolicy, MissingKeyMakesEveryComparisonFalse) {
  const Subject s = user("bob.test");
  const Object o = file(std::nullopt);  // no visibility, size or expires_at
  for (Op op : {Op::Equals, Op::NotEquals, Op::GreaterThan, Op::LessThan, Op::GreaterThanOrEqual, Op::LessThanOrEqual, Op::Contains, Op::NotContains, Op::In})
    for (const char* key : {"size", "visibility", "expires_at", "custom_missing"}) {
      EXPECT_FALSE(evaluate(Condition::cmp(op, key, Value(int64_t{1})), s, "file:read", o, Env{kNow})) << key << static_cast<int>(op);
      EXPECT_FALSE(evaluate(Condition::cmp(op, key, Value(Array{"1"})), s, "file:read", o, Env{kNow})) << key << static_cast<int>(op);
    }
  // A missing right-hand reference too (anonymous has no id_tag).
  EXPECT_FALSE(evaluate(Condition::cmp(Op::NotEquals, "owner", Ref{"subject.id_tag"}), anonymous(), "file:read", o, Env{kNow}));
}

TEST(AbacPolicy, CommunityRanks) {
  EXPECT_EQ(community_rank("public"), 0);
  EXPECT_EQ(community_rank("follower"), 1);
  EXPECT_EQ(community_rank("supporter"), 2);
  EXPECT_EQ(community_rank("contributor"), 3);
  EXPECT_EQ(community_rank("moderator"), 4);
  EXPECT_EQ(community_rank("leader"), 5);
  EXPECT_EQ(community_rank("SADM"), -1);
}

}  // namespace
