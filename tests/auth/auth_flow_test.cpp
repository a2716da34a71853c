// Authentication end to end over real HTTP: login → token → /api/me →
// profile update → logout → token rejected (against a `cumulo serve`
// process), the token rejection table, lockout, rate limits, API keys, and
// the cross-node PROXY token exchange between two hosts over TLS.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <thread>

#include "api/services.hpp"
#include "identity/base64url.hpp"
#include "net/x509.hpp"
#include "support/fixture.hpp"

using namespace cumulo;
using namespace cumulo::test;
using json = nlohmann::json;

namespace {

Resp call(uint16_t port, const std::string& method, const std::string& target, const std::string& host, const std::string& token = "",
          const std::string& body = "", const std::string& ip = "") {
  Req q;
  q.method = method;
  q.target = target;
  q.host = host;
  q.body = body;
  if (!body.empty()) q.headers["Content-Type"] = "application/json";
  if (!token.empty()) q.headers["Authorization"] = "Bearer " + token;
  if (!ip.empty()) q.headers["X-Forwarded-For"] = ip;  // proxy mode trusts 127.0.0.1
  return http(port, q);
}

// Polls `cond` every `interval` until it holds or `timeout` passes: for
// conditions that release with time, where a tight poll would itself trip
// the rate limiter's ban (20 refusals within 60 s).
bool poll_slowly(const std::function<bool()>& cond, std::chrono::milliseconds timeout, std::chrono::milliseconds interval = std::chrono::milliseconds(200)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(interval);
  }
  return cond();
}

std::string error_code(const Resp& r) {
  try {
    return json::parse(r.body)["error"]["code"].get<std::string>();
  } catch (...) {
    return "<no error envelope: " + r.body + ">";
  }
}

std::string login(uint16_t port, const std::string& id_tag, const std::string& password, unsigned expect = 200, const std::string& ip = "") {
  auto r = call(port, "POST", "/api/auth/login", "cl-o." + id_tag, "", json{{"idTag", id_tag}, {"password", password}}.dump(), ip);
  EXPECT_EQ(r.status, expect) << r.body;
  if (r.status != 200) return {};
  auto d = json::parse(r.body)["data"];
  EXPECT_EQ(d["idTag"], id_tag);
  EXPECT_TRUE(d["tnId"].is_number_integer());
  EXPECT_TRUE(d["profilePic"].is_string());  // never null: the client type requires a string
  EXPECT_TRUE(d["roles"].is_array());
  EXPECT_TRUE(d["settings"].is_array());
  return d["token"].get<std::string>();
}

// Two tenants, alice.test (base, password "alice-password-1") and bob.test.
struct AuthHost {
  std::unique_ptr<TestHost> host;
  explicit AuthHost(json extra = json::object()) {
    json cfg = {{"basePassword", "alice-password-1"},
                {"tenants", {{{"idTag", "bob.test"}}}},
                {"auth", {{"loginFailureDelayMs", 0}, {"lockoutMaxFailures", 3}, {"lockoutSeconds", 1}}}};
    cfg.merge_patch(extra);
    host = std::make_unique<TestHost>(cfg, builtin_plugins());
  }
  uint16_t port() const { return host->port(); }
  api::Services& s() { return host->app().services(); }
  app::TenantInfo tenant(const std::string& id) { return *host->app().backends().tenant(id); }
};

}  // namespace

TEST(AuthProcess, LoginMeUpdateLogoutThenTokenRejected) {
  TempDir tmp;
  auto plugins = tmp.path / "plugins";
  fs::create_directories(plugins);
  for (const auto& p : builtin_plugins()) fs::copy_file(p, plugins / p.filename());
  const uint16_t port = free_port();
  ServeProcess server({{"MODE", "proxy"},
                       {"LISTEN", "127.0.0.1:" + std::to_string(port)},
                       {"DATA_DIR", (tmp.path / "data").string()},
                       {"BASE_ID_TAG", "alice.test"},
                       {"BASE_PASSWORD", "correct horse battery"},
                       {"PLUGIN_DIRS", plugins.string()},
                       {"LOG_LEVEL", "warn"}});
  ASSERT_TRUE(server.wait_ready(port));
  const std::string host = "cl-o.alice.test";

  // Wrong password: 403 E-AUTH-NOPERM ([impl]), after the fixed delay.
  const auto t0 = std::chrono::steady_clock::now();
  login(port, "alice.test", "wrong password", 403);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));

  const std::string token = login(port, "alice.test", "correct horse battery");
  ASSERT_FALSE(token.empty());
  auto me = call(port, "GET", "/api/me", host);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(json::parse(me.body)["data"]["idTag"], "alice.test");
  EXPECT_FALSE(json::parse(me.body)["data"]["keys"].empty());

  auto patched = call(port, "PATCH", "/api/me", host, token, json{{"name", "Alice Liddell"}}.dump());
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(json::parse(call(port, "GET", "/api/me", host).body)["data"]["name"], "Alice Liddell");

  // The session refreshes while valid.
  auto refreshed = call(port, "GET", "/api/auth/login-token", host, token);
  ASSERT_EQ(refreshed.status, 200);
  EXPECT_EQ(json::parse(refreshed.body)["data"]["idTag"], "alice.test");

  ASSERT_EQ(call(port, "POST", "/api/auth/logout", host, token, "{}").status, 200);
  auto after = call(port, "PATCH", "/api/me", host, token, json{{"name", "Mallory"}}.dump());
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(error_code(after), "E-AUTH-UNAUTH");
  EXPECT_TRUE(json::parse(call(port, "GET", "/api/auth/login-token", host, token).body)["data"].is_null());
  EXPECT_EQ(json::parse(call(port, "GET", "/api/me", host).body)["data"]["name"], "Alice Liddell");

  // Logout survives a restart: the revocation is persisted.
  server.restart();
  ASSERT_TRUE(server.wait_ready(port));
  EXPECT_EQ(call(port, "PATCH", "/api/me", host, token, json{{"name", "Mallory"}}.dump()).status, 401);
  // BASE_PASSWORD on a later start does not reset the password, and login still works.
  EXPECT_FALSE(login(port, "alice.test", "correct horse battery").empty());
}

TEST(AuthTokens, EveryBadTokenIs401WithEnvelopeNever500) {
  AuthHost h;
  auto alice = h.tenant("alice.test"), bob = h.tenant("bob.test");
  const std::string good = h.s().authn.mint(alice, "alice.test", {});
  ASSERT_EQ(call(h.port(), "GET", "/api/auth/api-keys", "cl-o.alice.test", good).status, 200);

  auto dot1 = good.find('.'), dot2 = good.rfind('.');
  const std::string header = good.substr(0, dot1), payload = good.substr(dot1 + 1, dot2 - dot1 - 1), sig = good.substr(dot2 + 1);
  std::string flipped_sig = sig;
  flipped_sig[5] = flipped_sig[5] == 'A' ? 'B' : 'A';
  auto claims = json::parse(*identity::base64url_decode(payload));
  claims["sub"] = "mallory.test";
  const std::string tampered = header + "." + identity::base64url_encode(claims.dump()) + "." + sig;
  const std::string none = identity::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".";
  const std::string none_signed = identity::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload + "." + sig;

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"expired", h.s().authn.mint(alice, "alice.test", {}, std::nullopt, -5)},
      {"wrong issuer (bob's token on alice's host)", h.s().authn.mint(bob, "bob.test", {})},
      {"wrong signature", header + "." + payload + "." + flipped_sig},
      {"alg none", none},
      {"alg none with a signature", none_signed},
      {"tampered payload", tampered},
      {"truncated", good.substr(0, good.size() - 7)},
      {"no signature segment", header + "." + payload},
      {"oversized", good + std::string(8000, 'A')},
      {"garbage", "not-a-jwt"},
      {"unknown api key", "cl_" + std::string(43, 'x')},
  };
  for (const auto& [what, token] : bad) {
    for (const auto& [method, target, body] :
         std::vector<std::tuple<std::string, std::string, std::string>>{{"GET", "/api/auth/api-keys", ""}, {"PATCH", "/api/me", R"({"name":"x"})"}}) {
      auto r = call(h.port(), method, target, "cl-o.alice.test", token, body);
      EXPECT_EQ(r.status, 401) << what << " on " << method << " " << target << ": " << r.body;
      EXPECT_EQ(error_code(r), "E-AUTH-UNAUTH") << what;
    }
  }
  // No credential at all on a protected route: 403 (rest-api.md §7 check 2).
  auto none_at_all = call(h.port(), "GET", "/api/auth/api-keys", "cl-o.alice.test");
  EXPECT_EQ(none_at_all.status, 403);
  EXPECT_EQ(error_code(none_at_all), "E-AUTH-NOPERM");
  // Not a Bearer scheme.
  Req q;
  q.target = "/api/auth/api-keys";
  q.host = "cl-o.alice.test";
  q.headers["Authorization"] = "Basic YWxpY2U6cHc=";
  EXPECT_EQ(http(h.port(), q).status, 401);
}

TEST(AuthTokens, TenantsCannotUseEachOthersTokens) {
  AuthHost h;
  const std::string a = login(h.port(), "alice.test", "alice-password-1");
  // bob.test has no password yet: its owner cannot log in at all.
  login(h.port(), "bob.test", "", 403);
  login(h.port(), "bob.test", "anything", 403);
  // Logging in to bob's host as alice is refused like a wrong password.
  auto cross = call(h.port(), "POST", "/api/auth/login", "cl-o.bob.test", "", json{{"idTag", "alice.test"}, {"password", "alice-password-1"}}.dump());
  EXPECT_EQ(cross.status, 403);
  auto r = call(h.port(), "PATCH", "/api/me", "cl-o.bob.test", a, json{{"name", "Owned"}}.dump());
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(json::parse(call(h.port(), "GET", "/api/me", "cl-o.bob.test").body)["data"]["name"], "Owned");
  EXPECT_EQ(call(h.port(), "GET", "/api/auth/api-keys", "cl-o.bob.test", a).status, 401);
}

TEST(AuthLogin, LockoutTriggersAtThresholdAndReleases) {
  AuthHost h;
  // Each phase comes from its own /24: the per-IP limiter (which failed
  // logins also penalize) must not be what this test measures.
  const std::string ip = "10.1.0.7";
  for (int i = 0; i < 3; ++i) login(h.port(), "alice.test", "nope", 403, ip);
  // Locked: even the right password is refused, with Retry-After.
  auto r = call(h.port(), "POST", "/api/auth/login", "cl-o.alice.test", "", json{{"idTag", "alice.test"}, {"password", "alice-password-1"}}.dump(), "10.2.0.8");
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(error_code(r), "E-RATE-LIMITED");
  EXPECT_EQ(json::parse(r.body)["error"]["details"]["level"], "account");
  EXPECT_FALSE(r.headers["retry-after"].empty());
  // lockoutSeconds = 1: released by time alone (polled, no blind sleep).
  EXPECT_TRUE(poll_slowly(
      [&] {
        return call(h.port(), "POST", "/api/auth/login", "cl-o.alice.test", "", json{{"idTag", "alice.test"}, {"password", "alice-password-1"}}.dump(),
                    "10.3.0.9")
                   .status == 200;
      },
      std::chrono::seconds(10)));
  // Two failures, then a success, then two more: the count restarted, no lock.
  for (int i = 0; i < 2; ++i) login(h.port(), "alice.test", "nope", 403, "10.4.0.10");
  login(h.port(), "alice.test", "alice-password-1", 200, "10.4.0.10");
  for (int i = 0; i < 2; ++i) login(h.port(), "alice.test", "nope", 403, "10.5.0.11");
  login(h.port(), "alice.test", "alice-password-1", 200, "10.5.0.11");
}

TEST(AuthLogin, PerIpRateLimitTriggersWithHeadersAndReleases) {
  AuthHost h;
  // The auth bucket ([impl]: 5/s with a burst of 5): the 6th immediate
  // request from one address is refused; another address is unaffected.
  const std::string ip = "203.0.113.50";
  Resp last;
  int allowed = 0;
  for (int i = 0; i < 6; ++i) {
    last = call(h.port(), "GET", "/api/auth/login-token", "cl-o.alice.test", "", "", ip);
    if (last.status == 200) ++allowed;
  }
  EXPECT_EQ(allowed, 5);
  EXPECT_EQ(last.status, 429) << last.body;
  EXPECT_EQ(error_code(last), "E-RATE-LIMITED");
  EXPECT_FALSE(last.headers["retry-after"].empty());
  EXPECT_EQ(last.headers["x-ratelimit-level"], "ipv4_individual");
  EXPECT_FALSE(last.headers["x-ratelimit-limit"].empty());
  EXPECT_EQ(json::parse(last.body)["error"]["details"]["level"], "ipv4_individual");
  // Another network is unaffected (the /24 of the first one is limited too).
  EXPECT_EQ(call(h.port(), "GET", "/api/auth/login-token", "cl-o.alice.test", "", "", "198.18.7.1").status, 200);
  // Released once the bucket drains (5/s: within about a second).
  EXPECT_TRUE(
      poll_slowly([&] { return call(h.port(), "GET", "/api/auth/login-token", "cl-o.alice.test", "", "", ip).status == 200; }, std::chrono::seconds(10)));
}

TEST(AuthApiKeys, CreateUseListDelete) {
  AuthHost h;
  const std::string token = login(h.port(), "alice.test", "alice-password-1");
  auto created = call(h.port(), "POST", "/api/auth/api-keys", "cl-o.alice.test", token, json{{"name", "ci"}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  auto d = json::parse(created.body)["data"];
  const std::string key = d["plaintextKey"];
  ASSERT_EQ(key.rfind("cl_", 0), 0u);
  const std::string key_id = d["keyId"].dump();
  // The key works as a Bearer on its own tenant only.
  EXPECT_EQ(call(h.port(), "GET", "/api/auth/api-keys", "cl-o.alice.test", key).status, 200);
  EXPECT_EQ(call(h.port(), "GET", "/api/auth/api-keys", "cl-o.bob.test", key).status, 401);
  // ... and exchanges for a session token.
  auto exchanged = call(h.port(), "GET", "/api/auth/access-token?apiKey=" + key, "cl-o.alice.test");
  ASSERT_EQ(exchanged.status, 200) << exchanged.body;
  EXPECT_EQ(call(h.port(), "GET", "/api/auth/api-keys", "cl-o.alice.test", json::parse(exchanged.body)["data"]["token"]).status, 200);
  auto list = json::parse(call(h.port(), "GET", "/api/auth/api-keys", "cl-o.alice.test", token).body)["data"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "ci");
  EXPECT_FALSE(list[0].contains("plaintextKey"));
  EXPECT_EQ(call(h.port(), "DELETE", "/api/auth/api-keys/" + key_id, "cl-o.alice.test", token).status, 200);
  EXPECT_EQ(call(h.port(), "GET", "/api/auth/api-keys", "cl-o.alice.test", key).status, 401);
}

TEST(AuthPassword, ChangeRequiresCurrentAndRules) {
  AuthHost h;
  const std::string token = login(h.port(), "alice.test", "alice-password-1");
  auto change = [&](const std::string& cur, const std::string& next) {
    return call(h.port(), "POST", "/api/auth/password", "cl-o.alice.test", token, json{{"currentPassword", cur}, {"newPassword", next}}.dump());
  };
  EXPECT_EQ(change("alice-password-1", "short").status, 400);
  EXPECT_EQ(change("alice-password-1", "alice-password-1").status, 400);
  EXPECT_EQ(change("wrong-current", "a-new-password").status, 403);
  EXPECT_EQ(change("alice-password-1", "a-new-password").status, 200);
  login(h.port(), "alice.test", "alice-password-1", 403);
  login(h.port(), "alice.test", "a-new-password");
}

// Node A (alice.test, standalone TLS) and node B (bob.test): alice's node
// signs a PROXY token; bob's node verifies it against alice's /api/me (fetched
// over HTTPS through a resolver override) and mints a token whose sub is alice.
TEST(AuthProxy, CrossNodeAccessTokenFromProxyToken) {
  TempDir certs;
  auto ca = net::make_ca("Cumulo Federation Test CA");
  auto leaf = net::make_leaf({"cl-o.alice.test"}, &ca);
  std::ofstream(certs.path / "alice.crt") << leaf.cert_pem;
  std::ofstream(certs.path / "alice.key") << leaf.key_pem;
  std::ofstream(certs.path / "ca.pem") << ca.cert_pem;
  TestHost node_a({{"mode", "standalone"},
                   {"listenHttp", ""},
                   {"basePassword", "alice-password-1"},
                   {"certs", {{{"domain", "cl-o.alice.test"}, {"cert", (certs.path / "alice.crt").string()}, {"key", (certs.path / "alice.key").string()}}}}},
                  builtin_plugins());
  TestHost node_b(
      {{"baseIdTag", "bob.test"},
       {"outbound", {{"resolve", {{"cl-o.alice.test:443", "127.0.0.1:" + std::to_string(node_a.port())}}}, {"caFile", (certs.path / "ca.pem").string()}}}},
      builtin_plugins());
  auto alice = *node_a.app().backends().tenant("alice.test");
  const std::string alice_token = node_a.app().services().authn.mint(alice, "alice.test", {});
  auto proxy_for = [&](const std::string& target) {
    Req q;
    q.target = "/api/auth/proxy-token?idTag=" + target;
    q.host = "cl-o.alice.test";
    q.headers["Authorization"] = "Bearer " + alice_token;
    auto r = https(node_a.port(), "cl-o.alice.test", ca.cert_pem, q);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["data"]["token"].get<std::string>();
  };
  const std::string proxy = proxy_for("bob.test");
  auto r = call(node_b.port(), "GET", "/api/auth/access-token?token=" + proxy, "cl-o.bob.test");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string granted = json::parse(r.body)["data"]["token"];
  auto payload = json::parse(*identity::base64url_decode(granted.substr(granted.find('.') + 1, granted.rfind('.') - granted.find('.') - 1)));
  EXPECT_EQ(payload["iss"], "bob.test");
  EXPECT_EQ(payload["sub"], "alice.test");
  // The granted token authenticates alice on bob's node (as a visitor, not the owner).
  EXPECT_EQ(call(node_b.port(), "GET", "/api/auth/vapid", "cl-o.bob.test", granted).status, 200);
  EXPECT_EQ(call(node_b.port(), "GET", "/api/auth/api-keys", "cl-o.bob.test", granted).status, 403);

  // A PROXY token addressed to someone else, or tampered, is refused.
  auto wrong_aud = call(node_b.port(), "GET", "/api/auth/access-token?token=" + proxy_for("carol.test"), "cl-o.bob.test");
  EXPECT_EQ(wrong_aud.status, 401);
  std::string bad = proxy;
  bad[bad.size() - 3] = bad[bad.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(call(node_b.port(), "GET", "/api/auth/access-token?token=" + bad, "cl-o.bob.test").status, 401);
  EXPECT_EQ(call(node_b.port(), "GET", "/api/auth/access-token?token=garbage", "cl-o.bob.test").status, 401);
}

TEST(AuthPassword, SetPasswordWithOneTimeRef) {
  AuthHost h;
  const std::string token = login(h.port(), "alice.test", "alice-password-1");
  auto created = call(h.port(), "POST", "/api/refs", "cl-o.alice.test", token, json{{"type", "password"}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string ref = json::parse(created.body)["data"]["refId"];
  auto set = [&](const std::string& id, const std::string& pw) {
    return call(h.port(), "POST", "/api/auth/set-password", "cl-o.alice.test", "", json{{"refId", id}, {"newPassword", pw}}.dump());
  };
  EXPECT_EQ(set(ref, "short").status, 400);
  auto ok = set(ref, "reset-password-2");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["data"]["idTag"], "alice.test");
  EXPECT_FALSE(json::parse(ok.body)["data"]["token"].get<std::string>().empty());
  // One use only; unknown refs are 404.
  EXPECT_EQ(set(ref, "another-password-3").status, 410);
  EXPECT_EQ(set("no-such-ref", "another-password-3").status, 404);
  login(h.port(), "alice.test", "alice-password-1", 403);
  login(h.port(), "alice.test", "reset-password-2");
  // A share link cannot set a password.
  auto share = call(h.port(), "POST", "/api/refs", "cl-o.alice.test", token, json{{"type", "share.file"}, {"resourceId", "f1~x"}}.dump());
  ASSERT_EQ(share.status, 201) << share.body;
  EXPECT_EQ(set(json::parse(share.body)["data"]["refId"], "hijacked-password-4").status, 403);
}
