// HTTP behaviour of the host: envelope, request ids, errors, limits,
// keep-alive, CORS, metrics, WebSocket echo.
#include <gtest/gtest.h>

#include "support/fixture.hpp"

using namespace cumulo::test;
using json = nlohmann::json;

namespace {
struct HttpTest : ::testing::Test {
  static inline std::unique_ptr<TestHost> host;
  static void SetUpTestSuite() { host = std::make_unique<TestHost>(json{{"bodyLimit", 4096}}, builtin_plugins()); }
  static void TearDownTestSuite() { host.reset(); }
};
}  // namespace

TEST_F(HttpTest, HealthUsesEnvelopeWithRequestId) {
  auto r = host->get("/health");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["data"]["status"], "ok");
  ASSERT_TRUE(j["time"].is_string());
  EXPECT_EQ(j["time"].get<std::string>().size(), 20u);  // 2025-01-01T12:00:00Z
  EXPECT_EQ(j["time"].get<std::string>().back(), 'Z');
  ASSERT_EQ(j["reqId"].get<std::string>().size(), 8u);
  EXPECT_EQ(r.headers["x-request-id"], j["reqId"]);
  EXPECT_EQ(r.headers["content-type"], "application/json; charset=utf-8");
}

TEST_F(HttpTest, ValidRequestIdIsEchoedInvalidIsReplaced) {
  Req q;
  q.target = "/health";
  q.headers["X-Request-ID"] = "client-id_1.2";
  auto r = http(host->port(), q);
  EXPECT_EQ(json::parse(r.body)["reqId"], "client-id_1.2");
  q.headers["X-Request-ID"] = "bad id with spaces";
  r = http(host->port(), q);
  EXPECT_NE(json::parse(r.body)["reqId"], "bad id with spaces");
  EXPECT_EQ(json::parse(r.body)["reqId"].get<std::string>().size(), 8u);
}

TEST_F(HttpTest, UnknownRouteIs404Envelope) {
  auto r = host->get("/api/nope");
  EXPECT_EQ(r.status, 404);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "E-CORE-NOTFOUND");
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_EQ(j["reqId"], r.headers["x-request-id"]);
}

TEST_F(HttpTest, OversizedBodyIs413) {
  auto r = host->admin("POST", "/api/_admin/plugins", std::string(5000, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "E-FILE-TOOLARGE");
}

TEST_F(HttpTest, MalformedJsonIs400Never500) {
  for (std::string body : {"{", "{\"path\":", "[1,2", "\xff\xfe", "nul", "{\"path\": 12}"}) {
    auto r = host->admin("POST", "/api/_admin/plugins", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "E-VAL-INVALID") << body;
  }
}

TEST_F(HttpTest, MalformedHttpIs400) {
  auto out = raw(host->port(), "GARBAGE\r\n\r\n");
  EXPECT_NE(out.find("400"), std::string::npos) << out;
  EXPECT_NE(out.find("E-VAL-INVALID"), std::string::npos) << out;
}

TEST_F(HttpTest, AdminNeedsToken) {
  auto r = host->get("/api/_admin/plugins");
  EXPECT_EQ(r.status, 403);
  Req q;
  q.target = "/api/_admin/plugins";
  q.headers["Authorization"] = "Bearer wrong";
  EXPECT_EQ(http(host->port(), q).status, 401);
}

TEST_F(HttpTest, AdminLoadsOnlyFromPluginDirs) {
  auto r = host->admin("POST", "/api/_admin/plugins", json{{"path", "/etc/passwd"}}.dump());
  EXPECT_EQ(r.status, 403);
}

TEST_F(HttpTest, KeepAliveReusesConnection) {
  KeepAlive c(host->port());
  for (int i = 0; i < 20; ++i) {
    Req q;
    q.target = i % 2 ? "/health" : "/api/nope";
    auto r = c.send(q);
    ASSERT_TRUE(r.ok) << r.error;
  }
  EXPECT_EQ(c.connects(), 1);
}

TEST_F(HttpTest, CorsPreflightMirrorsOrigin) {
  Req q;
  q.method = "OPTIONS";
  q.target = "/api/me";
  q.headers["Origin"] = "https://app.example";
  q.headers["Access-Control-Request-Method"] = "PATCH";
  auto r = http(host->port(), q);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://app.example");
  EXPECT_EQ(r.headers["access-control-allow-credentials"], "true");
  EXPECT_EQ(r.headers["access-control-allow-methods"], "PATCH");
}

TEST_F(HttpTest, ReadyChecksAdapters) {
  auto r = host->get("/ready");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body)["data"];
  EXPECT_TRUE(j["ready"]);
  EXPECT_EQ(j["profiles"]["embedded"]["meta"]["status"], "ok");
  EXPECT_EQ(j["profiles"]["embedded"]["meta"]["factory"], "meta-sqlite");
  EXPECT_EQ(j["profiles"]["embedded"]["auth"]["factory"], "auth-sqlite");
  EXPECT_EQ(j["profiles"]["embedded"]["auth"]["status"], "ok");
  EXPECT_EQ(j["profiles"]["embedded"]["blob"]["factory"], "blob-fs");
  EXPECT_EQ(j["profiles"]["embedded"]["blob"]["status"], "ok");
}

TEST_F(HttpTest, MetricsCountRequests) {
  host->get("/health");
  auto r = host->get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("cumulo_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"}"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("cumulo_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(r.body.find("cumulo_plugins_loaded " + std::to_string(builtin_plugins().size())), std::string::npos);
}

TEST_F(HttpTest, WebSocketEcho) {
  EXPECT_EQ(ws_roundtrip(host->port(), "/ws/echo", "hello over ws"), "hello over ws");
}

TEST_F(HttpTest, ProxyHeadersHonouredFromTrustedPeer) {
  // 127.0.0.1 is trusted by default: X-Forwarded-Host picks the tenant.
  Req q;
  q.method = "POST";
  q.target = "/api/_admin/selftest/meta";
  q.host = "internal:1443";
  q.headers["X-Forwarded-Host"] = "cl-o.alice.test";
  q.headers["Authorization"] = std::string("Bearer ") + TestHost::kAdminToken;
  auto r = http(host->port(), q);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"]["tenant"], "alice.test");
}

TEST_F(HttpTest, WellKnownIdTagIsBareJsonOnAppDomain) {
  auto r = host->get("/.well-known/cloudillo/id-tag", "alice.test:1443");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), (json{{"idTag", "alice.test"}}));
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  EXPECT_EQ(host->get("/.well-known/cloudillo/id-tag", "unknown.example").status, 404);
}
