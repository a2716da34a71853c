// Conformance scenarios of spec/actions-federation.md §18 about what a
// receiver must refuse or absorb: 4 (stranger POST), 5 (tampered token, and
// a token signed by the wrong key), 6 (replays, including an older FLLW after
// FLLW:DEL), 7 (unknown key id, failure cached), 8 (unreachable issuer:
// failure cached, verifier retries), 9 (expired token), 27 (unknown type),
// definition-violating payloads, the inbound relationship gate (§6.3) and
// proof of work (14, §9) — rejections asserted on /api/inbox/sync, and for
// each that nothing was stored.
#include <unistd.h>

#include <ctime>

#include "actions/engine.hpp"
#include "api/services.hpp"
#include "auth/remote_keys.hpp"
#include "federation/federation.hpp"
#include "identity/action_token.hpp"
#include "identity/base64url.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;
using cumulo::actions::PowCounters;

namespace {

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

std::string id_of(const std::string& token) {
  auto p = cumulo::identity::parse_action_token(token);
  return p ? p->id() : std::string();
}

json error_of(const Resp& r) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"] : json(nullptr);
}

std::string claims_json(const std::string& token) {
  auto d1 = token.find('.'), d2 = token.rfind('.');
  return *cumulo::identity::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
}

// The same token with its decoded payload edited (header and signature kept).
std::string with_payload(const std::string& token, const std::string& payload) {
  auto d1 = token.find('.'), d2 = token.rfind('.');
  return token.substr(0, d1 + 1) + cumulo::identity::base64url_encode(payload) + token.substr(d2);
}

// `who` follows `whom` and `whom`'s node has stored the FLLW.
json follow(Federation& f, const std::string& who, const std::string& whom) {
  auto fl = f.create(who, {{"type", "FLLW"}, {"audienceTag", whom}});
  EXPECT_TRUE(f.wait_stored(whom, fl["actionId"], "A")) << who << "'s FLLW never reached " << whom;
  return fl;
}

size_t count_actions(Federation& f, const std::string& on, const json& filter) {
  json q = filter;
  q["limit"] = 500;
  return f.list(on, q).size();
}

cumulo::actions::Engine& engine(Federation& f, const std::string& id) { return f.node(id).app().services().actions(); }
cumulo::auth::RemoteKeys& remote_keys(Federation& f, const std::string& id) { return f.node(id).app().services().remote_keys(); }

// The verifier task of an async inbox delivery on `on`.
std::vector<json> verify_tasks(Federation& f, const std::string& on, const std::string& action_id) {
  return f.tasks(on, "verify:" + on + ":" + action_id);
}

// Asserts a sync rejection with `status` (and error code when given) and that
// `token`'s id was not stored on `on`.
void expect_refused(Federation& f, const std::string& on, const std::string& token, unsigned status, const std::string& code = "",
                    const std::string& what = "") {
  auto r = f.inbox(on, token, {}, true);
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  auto err = error_of(r);
  ASSERT_TRUE(err.is_object()) << what << ": no error envelope: " << r.body;
  if (!code.empty()) {
    EXPECT_EQ(err.value("code", ""), code) << what << ": " << r.body;
  }
  EXPECT_TRUE(f.stored(on, id_of(token)).is_null()) << what << ": stored anyway";
}

}  // namespace

// Scenario 4 (and the §6.3 gate): carol has no relation to bob.
TEST(ForgedInput, StrangerPostRejected) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  const auto tok = sign_as(f.node("carol.test").app(), "carol.test", {{"t", "POST"}, {"c", "buy my stuff"}});
  expect_refused(f, "bob.test", tok, 403, "E-AUTH-NOPERM", "stranger POST (sync)");
  // A wall post (aud = bob) from the stranger: the same gate.
  const auto wall = sign_as(f.node("carol.test").app(), "carol.test", {{"t", "POST"}, {"c", "on your wall"}, {"aud", "bob.test"}});
  expect_refused(f, "bob.test", wall, 403, "E-AUTH-NOPERM", "stranger wall POST (sync)");

  // The async inbox answers 201 and the verifier refuses it for good.
  auto r = f.inbox("bob.test", tok);
  EXPECT_EQ(r.status, 201u) << r.body;
  ASSERT_TRUE(eventually(
      [&] {
        auto t = verify_tasks(f, "bob.test", id_of(tok));
        return t.size() == 1 && t[0]["status"] == "E";
      },
      std::chrono::seconds(20)))
      << "the verifier task did not fail";
  EXPECT_TRUE(f.stored("bob.test", id_of(tok)).is_null());
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "POST"}}), 0u);
  auto feed = json::parse(f.call("bob.test", "GET", "/api/actions?type=POST").body)["data"];
  EXPECT_TRUE(feed.empty()) << feed.dump();
}

// Scenario 5: a payload character changed; and a token signed with another
// identity's key claiming to be alice.
TEST(ForgedInput, TamperedAndWrongKeyTokensRejected) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  follow(f, "bob.test", "alice.test");
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "hi"}});
  const std::string id = post["actionId"], tok = post["token"];
  ASSERT_TRUE(f.wait_stored("bob.test", id, "A"));
  const auto before = f.stored("bob.test", id);

  // One character of the payload: "c":"hi" → "c":"ho".
  std::string payload = claims_json(tok);
  const auto at = payload.find("\"hi\"");
  ASSERT_NE(at, std::string::npos) << payload;
  payload[at + 2] = 'o';
  const auto tampered = with_payload(tok, payload);
  ASSERT_NE(id_of(tampered), "");
  ASSERT_NE(id_of(tampered), id);
  expect_refused(f, "bob.test", tampered, 401, "E-AUTH-UNAUTH", "tampered POST");
  // Nothing new under either id; the original is intact.
  auto after = f.stored("bob.test", id);
  ASSERT_TRUE(after.is_object());
  EXPECT_EQ(after["status"], "A");
  EXPECT_EQ(after["token"], tok);
  EXPECT_EQ(after["content"], "hi");
  EXPECT_EQ(after, before);
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "POST"}}), 1u);

  // The same through the async inbox: 201, then the verifier refuses it.
  EXPECT_EQ(f.inbox("bob.test", tampered).status, 201u);
  ASSERT_TRUE(eventually(
      [&] {
        auto t = verify_tasks(f, "bob.test", id_of(tampered));
        return t.size() == 1 && t[0]["status"] == "E";
      },
      std::chrono::seconds(20)));
  EXPECT_TRUE(f.stored("bob.test", id_of(tampered)).is_null());

  // Signed by carol's key, claiming iss = alice.test (whom bob follows).
  const auto wrong = sign_as(f.node("carol.test").app(), "carol.test", {{"iss", "alice.test"}, {"t", "POST"}, {"c", "alice says"}});
  expect_refused(f, "bob.test", wrong, 401, "E-AUTH-UNAUTH", "POST signed by the wrong key");
  // Even with a key id alice does not use.
  const auto wrong2 = sign_as(f.node("carol.test").app(), "carol.test", {{"iss", "alice.test"}, {"k", "carol-key"}, {"t", "POST"}, {"c", "alice says"}});
  expect_refused(f, "bob.test", wrong2, 401, "E-AUTH-UNAUTH", "POST signed by the wrong key (other key id)");
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "POST"}}), 1u);

  // A tampered CONN raises bob's PoW counter for the sender's address (§9).
  auto& pow = engine(f, "bob.test").pow();
  ASSERT_EQ(pow.required("127.0.0.1", now_s()), 0);
  const auto conn = sign_as(f.node("alice.test").app(), "alice.test", {{"t", "CONN"}, {"aud", "bob.test"}, {"c", "hello"}});
  std::string cp = claims_json(conn);
  const auto hello = cp.find("hello");
  ASSERT_NE(hello, std::string::npos);
  cp[hello] = 'j';
  expect_refused(f, "bob.test", with_payload(conn, cp), 401, "E-AUTH-UNAUTH", "tampered CONN");
  EXPECT_EQ(pow.required("127.0.0.1", now_s()), 1);
}

// Scenario 6: replays are absorbed (one row, hooks once, still 2xx) and an
// older FLLW arriving after FLLW:DEL does not re-follow.
TEST(ForgedInput, ReplaysAreIdempotentAndNeverResurrect) {
  Federation f({"alice.test", "bob.test"});
  // A FLLW bob signed a while ago that never reached alice (a late delivery).
  const auto late_fllw = sign_as(f.node("bob.test").app(), "bob.test", {{"t", "FLLW"}, {"aud", "alice.test"}, {"iat", now_s() - 120}});

  auto fl = follow(f, "bob.test", "alice.test");
  const std::string fl_id = fl["actionId"], fl_tok = fl["token"];
  ASSERT_TRUE(f.settle());
  auto& eng = engine(f, "alice.test");
  const auto received = eng.stats().received.load();

  // The exact FLLW again, sync and async: 2xx, one row, no second hook run.
  auto r = f.inbox("alice.test", fl_tok, {}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
  r = f.inbox("alice.test", fl_tok);
  EXPECT_EQ(r.status, 201u) << r.body;
  ASSERT_TRUE(f.settle());
  EXPECT_EQ(count_actions(f, "alice.test", {{"type", "FLLW"}, {"issuerTag", "bob.test"}}), 1u);
  EXPECT_EQ(eng.stats().received.load(), received) << "a replay was processed again";
  EXPECT_EQ(f.stored("alice.test", fl_id)["status"], "A");

  // A broadcast POST replayed to bob: one row there too.
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "once"}});
  ASSERT_TRUE(f.wait_stored("bob.test", post["actionId"], "A"));
  // The row is visible before its verify task counts it: wait for the task.
  ASSERT_TRUE(f.settle());
  const auto bob_received = engine(f, "bob.test").stats().received.load();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.inbox("bob.test", post["token"], {}, i % 2 == 0).status, 201u);
  ASSERT_TRUE(f.settle());
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "POST"}}), 1u);
  EXPECT_EQ(engine(f, "bob.test").stats().received.load(), bob_received);

  // Unfollow, in a later second than the FLLW (iat has 1 s resolution).
  ASSERT_TRUE(eventually([&] { return now_s() > f.stored("alice.test", fl_id).value("createdAt", int64_t{0}); }, std::chrono::seconds(3)));
  auto del = f.create("bob.test", {{"type", "FLLW"}, {"subType", "DEL"}, {"audienceTag", "alice.test"}});
  ASSERT_TRUE(f.wait_stored("alice.test", del["actionId"], "A"));
  EXPECT_EQ(f.stored("alice.test", fl_id)["status"], "D");
  EXPECT_EQ(f.profile("alice.test", "bob.test").value("follower", true), false);

  // Replays: the superseded FLLW itself, and the older one never seen.
  for (const auto& tok : {fl_tok, late_fllw}) {
    auto rr = f.inbox("alice.test", tok, {}, true);
    EXPECT_EQ(rr.status, 201u) << rr.body;
    rr = f.inbox("alice.test", tok);
    EXPECT_EQ(rr.status, 201u) << rr.body;
  }
  ASSERT_TRUE(f.settle());
  EXPECT_EQ(f.profile("alice.test", "bob.test").value("follower", true), false) << "an old FLLW re-followed";
  EXPECT_EQ(f.stored("alice.test", fl_id)["status"], "D");
  auto late = f.stored("alice.test", id_of(late_fllw));
  ASSERT_TRUE(late.is_object());
  EXPECT_EQ(late["status"], "D");
  auto holder = f.list("alice.test", {{"key", "FLLW:bob.test:alice.test"}});
  ASSERT_EQ(holder.size(), 1u);
  EXPECT_EQ(holder[0]["actionId"], del["actionId"]);
  // alice's next post goes to nobody.
  auto p2 = f.create("alice.test", {{"type", "POST"}, {"content", "not for bob"}});
  ASSERT_TRUE(f.settle());
  EXPECT_TRUE(f.tasks("alice.test", "delivery:" + p2["actionId"].get<std::string>() + ":").empty());
}

// The same, when FLLW and FLLW:DEL fall in the same second: a FLLW that was
// not seen before and is not newer than the DEL must not re-follow.
TEST(ForgedInput, SameSecondFollowAfterUnfollowDoesNotResurrect) {
  Federation f({"alice.test", "bob.test"});
  const int64_t t0 = now_s();
  auto& bob = f.node("bob.test").app();
  const auto fllw = sign_as(bob, "bob.test", {{"t", "FLLW"}, {"aud", "alice.test"}, {"iat", t0}});
  const auto del = sign_as(bob, "bob.test", {{"t", "FLLW:DEL"}, {"aud", "alice.test"}, {"iat", t0}});
  // The DEL overtakes the FLLW (e.g. the FLLW's delivery was retried).
  EXPECT_EQ(f.inbox("alice.test", del, {}, true).status, 201u);
  EXPECT_EQ(f.inbox("alice.test", fllw, {}, true).status, 201u);
  EXPECT_NE(f.profile("alice.test", "bob.test").value("follower", false), true);
  auto holder = f.list("alice.test", {{"key", "FLLW:bob.test:alice.test"}});
  ASSERT_EQ(holder.size(), 1u);
  EXPECT_EQ(holder[0]["actionId"], id_of(del));
}

// Scenario 7: a key id the issuer does not publish → 401, and the failure is
// remembered: a second token with that key id causes no /api/me request.
TEST(ForgedInput, UnknownKeyIdRejectedAndCached) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  auto& alice = f.node("alice.test").app();
  auto& rk = remote_keys(f, "bob.test");
  const auto t1 = sign_as(alice, "alice.test", {{"t", "POST"}, {"c", "one"}, {"k", "nokey1"}});
  const auto t2 = sign_as(alice, "alice.test", {{"t", "POST"}, {"c", "two"}, {"k", "nokey1"}});
  const auto f0 = rk.fetches();
  expect_refused(f, "bob.test", t1, 401, "E-AUTH-UNAUTH", "unknown key id");
  const auto f1 = rk.fetches();
  EXPECT_EQ(f1, f0 + 1) << "exactly one /api/me fetch for an unknown key id";
  expect_refused(f, "bob.test", t2, 401, "E-AUTH-UNAUTH", "unknown key id (cached)");
  EXPECT_EQ(rk.fetches(), f1) << "the failure was not cached";
  auto look = rk.lookup("alice.test", "nokey1", now_s());
  EXPECT_TRUE(look.cached_failure);
  EXPECT_EQ(look.miss, cumulo::auth::RemoteKeys::Miss::kNotPublished);
  EXPECT_EQ(rk.fetches(), f1);
  // Still cached just before the hour is over, not after it.
  EXPECT_TRUE(rk.lookup("alice.test", "nokey1", now_s() + cumulo::auth::RemoteKeys::kNotPublishedTtl - 5).cached_failure);
  EXPECT_EQ(rk.fetches(), f1);
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "POST"}}), 0u);
  // alice's real key still works.
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "real"}});
  EXPECT_TRUE(f.wait_stored("bob.test", post["actionId"], "A"));
}

// Scenario 8: the issuer's node is down. Sync → 503 and the failure is cached
// (no refetch); the async verifier retries, and succeeds once the issuer is
// back and the cached failure is gone.
TEST(ForgedInput, UnreachableIssuerRetriedByVerifier) {
  Federation f({"bob.test", "down.test"}, {{"federation", {{"verifyMaxWaitSeconds", 2}, {"verifyAttempts", 50}}}});
  auto& down = f.node("down.test").app();
  const auto fllw = sign_as(down, "down.test", {{"t", "FLLW"}, {"aud", "bob.test"}});
  const auto fllw2 = sign_as(down, "down.test", {{"t", "CONN"}, {"aud", "bob.test"}, {"c", "hi"}});
  f.stop("down.test");
  auto& rk = remote_keys(f, "bob.test");
  const auto f0 = rk.fetches();
  expect_refused(f, "bob.test", fllw, 503, "E-SYS-UNAVAIL", "issuer down");
  EXPECT_EQ(rk.fetches(), f0 + 1);
  // Another token of the same key: answered from the failure cache.
  expect_refused(f, "bob.test", fllw2, 503, "E-SYS-UNAVAIL", "issuer down (cached)");
  expect_refused(f, "bob.test", fllw, 503, "E-SYS-UNAVAIL", "issuer down (cached)");
  EXPECT_EQ(rk.fetches(), f0 + 1) << "refetched within the 5 min failure TTL";
  // Cached for 5 min (a network failure), not for 1 h.
  const std::string k = json::parse(claims_json(fllw))["k"];
  auto look = rk.lookup("down.test", k, now_s());
  EXPECT_TRUE(look.cached_failure);
  EXPECT_EQ(look.miss, cumulo::auth::RemoteKeys::Miss::kUnreachable);
  EXPECT_TRUE(rk.lookup("down.test", k, now_s() + cumulo::auth::RemoteKeys::kUnreachableTtl - 5).cached_failure);
  EXPECT_EQ(rk.fetches(), f0 + 1);

  // Async: 201 now, the verifier task keeps retrying.
  EXPECT_EQ(f.inbox("bob.test", fllw).status, 201u);
  ASSERT_TRUE(eventually(
      [&] {
        auto t = verify_tasks(f, "bob.test", id_of(fllw));
        return t.size() == 1 && t[0]["status"] == "P" && t[0]["attempt"].get<int>() >= 2;
      },
      std::chrono::seconds(30)))
      << "the verifier did not retry";
  EXPECT_TRUE(f.stored("bob.test", id_of(fllw)).is_null());
  EXPECT_EQ(rk.fetches(), f0 + 1) << "the retries refetched despite the cached failure";

  // down.test is back, but the failure is still cached: still not verified.
  f.start("down.test");
  const int attempts = verify_tasks(f, "bob.test", id_of(fllw))[0]["attempt"];
  ASSERT_TRUE(eventually([&] { return verify_tasks(f, "bob.test", id_of(fllw))[0]["attempt"].get<int>() > attempts; }, std::chrono::seconds(20)));
  EXPECT_TRUE(f.stored("bob.test", id_of(fllw)).is_null());
  EXPECT_EQ(rk.fetches(), f0 + 1);

  // The cached failure expires (test hook: the TTL is 5 min of real time).
  rk.forget_failures();
  ASSERT_TRUE(f.wait_stored("bob.test", id_of(fllw), "A", std::chrono::seconds(30))) << "the verifier never succeeded";
  auto t = verify_tasks(f, "bob.test", id_of(fllw));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_TRUE(eventually([&] { return verify_tasks(f, "bob.test", id_of(fllw))[0]["status"] == "F"; }));
  EXPECT_EQ(f.profile("bob.test", "down.test").value("follower", false), true);
}

// Scenario 9 and 27, definition violations, and the §6.3 gate: all refused
// on the sync inbox, nothing stored.
TEST(ForgedInput, InvalidTokensRejected) {
  Federation f({"alice.test", "bob.test", "carol.test"});
  follow(f, "bob.test", "alice.test");
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "a post"}});
  const std::string post_id = post["actionId"];
  ASSERT_TRUE(f.wait_stored("bob.test", post_id, "A"));
  auto& alice = f.node("alice.test").app();
  auto sign = [&](const json& claims) { return sign_as(alice, "alice.test", claims); };

  // 9. Expired ten minutes ago.
  {
    const auto tok = sign({{"t", "POST"}, {"c", "old news"}, {"exp", now_s() - 600}});
    auto r = f.inbox("bob.test", tok, {}, true);
    EXPECT_TRUE(r.status == 400 || r.status == 401) << r.body;
    EXPECT_NE(error_of(r).value("message", "").find("xpired"), std::string::npos) << r.body;
    EXPECT_TRUE(f.stored("bob.test", id_of(tok)).is_null());
  }
  // 27. A type nobody defines.
  {
    const auto tok = sign({{"t", "FOO"}, {"c", "?"}});
    auto r = f.inbox("bob.test", tok, {}, true);
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_NE(error_of(r).value("message", "").find("not supported"), std::string::npos) << r.body;
    EXPECT_TRUE(f.stored("bob.test", id_of(tok)).is_null());
    const auto sub = sign({{"t", "FOO:BAR"}, {"c", "?"}});
    expect_refused(f, "bob.test", sub, 400, "E-VAL-INVALID", "FOO:BAR");
  }
  // Definition violations (fields and content schema).
  const std::string too_long_post(50001, 'x'), too_long_cmnt(10001, 'y');
  const std::vector<std::pair<std::string, json>> bad = {
      {"POST without c", {{"t", "POST"}}},
      {"POST with an empty c", {{"t", "POST"}, {"c", ""}}},
      {"POST with c not a string", {{"t", "POST"}, {"c", json::object({{"x", 1}})}}},
      {"POST longer than 50000", {{"t", "POST"}, {"c", too_long_post}}},
      {"REACT with c", {{"t", "REACT:LIKE"}, {"sub", post_id}, {"c", "nice"}}},
      {"REACT without sub", {{"t", "REACT:LIKE"}}},
      {"REACT with p", {{"t", "REACT:LIKE"}, {"sub", post_id}, {"p", post_id}}},
      {"CMNT without p", {{"t", "CMNT"}, {"c", "orphan"}}},
      {"CMNT without c", {{"t", "CMNT"}, {"p", post_id}}},
      {"CMNT longer than 10000", {{"t", "CMNT"}, {"p", post_id}, {"c", too_long_cmnt}}},
      {"FLLW without aud", {{"t", "FLLW"}}},
      {"CONN content longer than 500", {{"t", "CONN"}, {"aud", "bob.test"}, {"c", std::string(501, 'z')}}},
  };
  for (const auto& [what, claims] : bad) expect_refused(f, "bob.test", sign(claims), 400, "E-VAL-INVALID", what);

  // Non-canonical identities are refused, not normalised.
  expect_refused(f, "bob.test", sign({{"t", "FLLW"}, {"aud", "Bob.Test"}}), 400, "E-VAL-INVALID", "non-canonical aud");

  // §6.3: POST from carol, whom bob does not follow.
  expect_refused(f, "bob.test", sign_as(f.node("carol.test").app(), "carol.test", {{"t", "POST"}, {"c", "hello bob"}}), 403, "E-AUTH-NOPERM",
                 "POST from an unknown issuer");
  // …while CMNT/REACT (allow_unknown) from carol on bob's own content pass.
  auto own = f.create("bob.test", {{"type", "POST"}, {"content", "bob's"}, {"visibility", "P"}});
  const auto cmnt = sign_as(f.node("carol.test").app(), "carol.test", {{"t", "CMNT"}, {"p", own["actionId"]}, {"c", "nice"}});
  EXPECT_EQ(f.inbox("bob.test", cmnt, {}, true).status, 201u);
  EXPECT_TRUE(f.wait_stored("bob.test", id_of(cmnt), "A"));

  // Only alice's post and bob's own post are there.
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "POST"}}), 2u);
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "REACT"}}), 0u);
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "CMNT"}}), 1u);
  EXPECT_EQ(count_actions(f, "bob.test", {{"type", "CONN"}}), 0u);
}

namespace {

// Re-signs (varying the "_" nonce) until the token does / does not end with
// `n` 'A's.
std::string grind(cumulo::app::App& signer, const std::string& id_tag, json claims, int n, bool want) {
  for (int i = 0; i < 400000; ++i) {
    claims["_"] = std::to_string(i);
    auto tok = sign_as(signer, id_tag, claims);
    if (PowCounters::satisfies(tok, n) == want) return tok;
  }
  ADD_FAILURE() << "no token found";
  return {};
}

}  // namespace

// Scenario 14 over HTTP: counter N=2 for the sender's address.
TEST(ForgedInput, ConnRequiresProofOfWork) {
  Federation f({"alice.test", "bob.test"});
  auto& alice = f.node("alice.test").app();
  auto& pow = engine(f, "bob.test").pow();
  pow.penalize("127.0.0.1", PowCounters::Violation::kRejected, now_s());
  pow.penalize("127.0.0.1", PowCounters::Violation::kRejected, now_s());
  ASSERT_EQ(pow.required("127.0.0.1", now_s()), 2);

  const json conn = {{"t", "CONN"}, {"aud", "bob.test"}, {"c", "let's connect"}};
  const auto plain = grind(alice, "alice.test", conn, 2, false);
  auto r = f.inbox("bob.test", plain, {}, true);
  EXPECT_EQ(r.status, 428u) << r.body;
  auto err = error_of(r);
  EXPECT_EQ(err.value("code", ""), "E-POW-REQUIRED") << r.body;
  EXPECT_NE(err.value("message", "").find("AA"), std::string::npos) << r.body;
  EXPECT_EQ(err["details"].value("suffix", ""), "AA") << r.body;
  EXPECT_TRUE(f.stored("bob.test", id_of(plain)).is_null());
  // The async inbox answers 428 synchronously too (the sender must learn it).
  r = f.inbox("bob.test", plain);
  EXPECT_EQ(r.status, 428u) << r.body;
  EXPECT_TRUE(verify_tasks(f, "bob.test", id_of(plain)).empty());
  EXPECT_EQ(pow.required("127.0.0.1", now_s()), 2);  // the /24 counter caught up, no more

  // Non-CONN types from that address are never asked for PoW.
  auto fl = sign_as(alice, "alice.test", {{"t", "FLLW"}, {"aud", "bob.test"}});
  while (PowCounters::satisfies(fl, 1)) fl = sign_as(alice, "alice.test", {{"t", "FLLW"}, {"aud", "bob.test"}});
  r = f.inbox("bob.test", fl, {}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_TRUE(f.wait_stored("bob.test", id_of(fl), "A"));

  // A CONN ending in "AA" is accepted (a pending request: C).
  const auto mined = grind(alice, "alice.test", conn, 2, true);
  ASSERT_TRUE(mined.ends_with("AA"));
  r = f.inbox("bob.test", mined, {}, true);
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_TRUE(f.wait_stored("bob.test", id_of(mined), "C"));
  EXPECT_EQ(json::parse(claims_json(mined))["_"].is_string(), true);
}

// §9 / §10.4: the sender answers a 428 by re-signing its CONN until the
// suffix matches, supersedes its own row with the new token and delivers it.
TEST(ForgedInput, SenderResignsConnOn428) {
  Federation f({"alice.test", "bob.test"});
  auto& pow = engine(f, "bob.test").pow();
  pow.penalize("127.0.0.1", PowCounters::Violation::kRejected, now_s());
  pow.penalize("127.0.0.1", PowCounters::Violation::kRejected, now_s());
  ASSERT_EQ(pow.required("127.0.0.1", now_s()), 2);
  auto conn = f.create("alice.test", {{"type", "CONN"}, {"audienceTag", "bob.test"}, {"content", "hi bob"}});
  const std::string first = conn["actionId"];
  if (PowCounters::satisfies(conn["token"].get<std::string>(), 2)) {
    GTEST_SKIP() << "the first token met the PoW by chance (1 in 4096)";
  }
  // bob ends up with alice's CONN request under the re-signed id.
  json got;
  ASSERT_TRUE(eventually(
      [&] {
        auto l = f.list("bob.test", {{"type", "CONN"}, {"issuerTag", "alice.test"}, {"status", json::array({"C"})}});
        if (l.empty()) return false;
        got = l[0];
        return true;
      },
      std::chrono::seconds(120)))
      << "the CONN never arrived";
  const std::string resigned = got["actionId"];
  EXPECT_NE(resigned, first);
  auto on_bob = f.stored("bob.test", resigned);
  EXPECT_TRUE(on_bob["token"].get<std::string>().ends_with("AA"));
  // On alice: the first row is superseded, the re-signed one holds the key.
  EXPECT_EQ(f.stored("alice.test", first)["status"], "D");
  // …and points to its successor (a retried delivery task follows it).
  EXPECT_EQ(f.stored("alice.test", first).value("x", json::object()).value("resignedAs", ""), resigned);
  auto mine = f.stored("alice.test", resigned);
  ASSERT_TRUE(mine.is_object()) << "alice does not hold the re-signed CONN";
  EXPECT_EQ(mine["status"], "A");
  EXPECT_EQ(mine["token"], on_bob["token"]);
  auto holder = f.list("alice.test", {{"key", "CONN:alice.test:bob.test"}});
  ASSERT_EQ(holder.size(), 1u);
  EXPECT_EQ(holder[0]["actionId"], resigned);
  auto claims = json::parse(claims_json(on_bob["token"]));
  EXPECT_EQ(claims["c"], "hi bob");
  EXPECT_EQ(claims["aud"], "bob.test");
  // One delivery task, done.
  auto tasks = f.tasks("alice.test", "delivery:" + first + ":");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(eventually([&] { return f.tasks("alice.test", "delivery:" + first + ":")[0]["status"] == "F"; }));
  EXPECT_EQ(f.profile("alice.test", "bob.test").value("connected", json(false)), "R");
}

// N > 3 is not worth mining (64^4 signatures): the delivery ends refused.
TEST(ForgedInput, SenderGivesUpOnExcessiveProofOfWork) {
  Federation f({"alice.test", "bob.test"});
  auto& pow = engine(f, "bob.test").pow();
  for (int i = 0; i < 4; ++i) pow.penalize("127.0.0.1", PowCounters::Violation::kRejected, now_s());
  ASSERT_EQ(pow.required("127.0.0.1", now_s()), 4);
  auto conn = f.create("alice.test", {{"type", "CONN"}, {"audienceTag", "bob.test"}, {"content", "hi"}});
  const std::string id = conn["actionId"];
  ASSERT_TRUE(eventually(
      [&] {
        auto t = f.tasks("alice.test", "delivery:" + id + ":bob.test");
        return t.size() == 1 && t[0]["status"] == "E";
      },
      std::chrono::seconds(30)))
      << "the delivery did not end";
  EXPECT_EQ(f.stored("alice.test", id)["status"], "A");  // not superseded
  EXPECT_TRUE(f.list("bob.test", {{"type", "CONN"}}).empty());
}
