// Remote profiles (spec/rest-api.md §2.3, core.md §3.2/§3.8) between two
// in-process hosts: node A serves alice.test over HTTPS (standalone TLS, a
// test CA); node B (bob.test) reaches it through `outbound.resolve` and
// trusts the CA through `outbound.caFile`. GET /api/profiles/{idTag} fetches
// and caches an unknown identity (with its keys); POST …/refresh refetches
// with If-None-Match.
#include <fstream>

#include "api/api_support.hpp"
#include "net/x509.hpp"

using namespace cumulo;
using namespace cumulo::test;
using namespace cumulo::test::api;

namespace {

struct TwoNodes {
  TempDir certs;
  net::KeyCert ca = net::make_ca("Cumulo Remote Profile Test CA");
  std::unique_ptr<TestHost> a, b;
  uint16_t closed_port = free_port();  // nothing listens here: a node that is down

  TwoNodes() {
    auto leaf = net::make_leaf({"cl-o.alice.test"}, &ca);
    std::ofstream(certs.path / "alice.crt") << leaf.cert_pem;
    std::ofstream(certs.path / "alice.key") << leaf.key_pem;
    std::ofstream(certs.path / "ca.pem") << ca.cert_pem;
    a = std::make_unique<TestHost>(
        json{{"mode", "standalone"},
             {"listenHttp", ""},
             {"basePassword", "alice-password-1"},
             {"certs", {{{"domain", "cl-o.alice.test"}, {"cert", (certs.path / "alice.crt").string()}, {"key", (certs.path / "alice.key").string()}}}}},
        builtin_plugins());
    const std::string down = "127.0.0.1:" + std::to_string(closed_port);
    b = std::make_unique<TestHost>(json{{"baseIdTag", "bob.test"},
                                        {"outbound",
                                         {{"resolve",
                                           {{"cl-o.alice.test:443", "127.0.0.1:" + std::to_string(a->port())},
                                            {"cl-o.dave.test:443", down},
                                            {"cl-o.nobody.test:443", down},
                                            // Node A answers, but not for carol (and not with her certificate).
                                            {"cl-o.carol.test:443", "127.0.0.1:" + std::to_string(a->port())}}},
                                          {"caFile", (certs.path / "ca.pem").string()}}}},
                                   builtin_plugins());
  }

  /// Node A's /api/me as a peer sees it (body and ETag).
  Resp alice_me() {
    Req q;
    q.target = "/api/me";
    q.host = "cl-o.alice.test";
    return https(a->port(), "cl-o.alice.test", ca.cert_pem, q);
  }
  /// Out-of-band change of alice's tenant record (fields PATCH /api/me does not take).
  void set_alice(const json& patch) {
    auto sc = scope_of(*a, "alice.test");
    sc.meta().update_tenant(sc.ref(), patch.dump());
  }
  /// PATCH /api/me on node A as alice (the path that renews its ETag).
  void rename_alice(const std::string& name) {
    Req q;
    q.method = "PATCH";
    q.target = "/api/me";
    q.host = "cl-o.alice.test";
    q.body = json{{"name", name}}.dump();
    q.headers["Content-Type"] = "application/json";
    q.headers["Authorization"] = "Bearer " + mint(*a, "alice.test", "alice.test");
    auto r = https(a->port(), "cl-o.alice.test", ca.cert_pem, q);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  /// Node B's cached record of alice ({} if none).
  json cached(const std::string& id_tag = "alice.test") {
    auto sc = scope_of(*b, "bob.test");
    const auto rec = sc.meta().get_profile(sc.ref(), id_tag);
    return rec.empty() ? json::object() : json::parse(rec);
  }
};

}  // namespace

TEST(RemoteProfile, FetchedOnFirstReadAndCachedWithKeys) {
  TwoNodes n;
  n.set_alice({{"name", "Alice A"}, {"profilePic", "f1~pic"}});
  const auto me = n.alice_me();
  ASSERT_EQ(me.status, 200) << me.body;
  const auto alice_key = json::parse(me.body)["data"]["keys"][0];
  EXPECT_TRUE(n.cached().empty());

  const auto bob = mint(*n.b, "bob.test", "bob.test");
  auto r = call(*n.b, "GET", "/api/profiles/alice.test", "bob.test", bob);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r)["data"], json({{"idTag", "alice.test"}, {"name", "Alice A"}, {"type", "person"}, {"profilePic", "f1~pic"}}));

  // Cached in bob's meta profiles with syncedAt and the peer's ETag.
  const auto rec = n.cached();
  EXPECT_EQ(rec["name"], "Alice A");
  EXPECT_EQ(rec["etag"], me.headers.at("etag"));
  ASSERT_TRUE(rec["syncedAt"].is_number_integer()) << rec.dump();
  EXPECT_GT(rec["syncedAt"].get<int64_t>(), 1700000000);
  // Its keys went to the node-global public key cache.
  auto& be = n.b->app().backends();
  const auto key = be.for_profile(be.default_profile())->meta.get_public_key("alice.test", alice_key["keyId"].get<std::string>());
  ASSERT_FALSE(key.empty());
  EXPECT_EQ(json::parse(key)["publicKey"], alice_key["publicKey"]);

  // A second read is served from the cache: a change on node A is not seen.
  n.rename_alice("Alice Renamed");
  EXPECT_EQ(body(call(*n.b, "GET", "/api/profiles/alice.test", "bob.test", bob))["data"]["name"], "Alice A");
  // The list shows the cached profile too.
  auto list = body(call(*n.b, "GET", "/api/profiles?idTag=alice.test", "bob.test", bob))["data"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "Alice A");
}

TEST(RemoteProfile, RefreshUsesEtagAndKeepsRelationship) {
  TwoNodes n;
  n.set_alice({{"type", "C"}});  // before anything read it
  const auto bob = mint(*n.b, "bob.test", "bob.test");
  auto first = call(*n.b, "GET", "/api/profiles/alice.test", "bob.test", bob);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(body(first)["data"]["type"], "community");
  ASSERT_EQ(call(*n.b, "PATCH", "/api/profiles/alice.test", "bob.test", bob, {{"following", true}}).status, 200);

  // Unchanged on node A: 304, so a local edit of the cached row survives
  // (a 200 would have overwritten the name).
  const auto etag = n.cached()["etag"];
  {
    auto sc = scope_of(*n.b, "bob.test");
    sc.meta().upsert_profile(sc.ref(), json{{"idTag", "alice.test"}, {"name", "kept on 304"}}.dump());
  }
  auto same = call(*n.b, "POST", "/api/profiles/alice.test/refresh", "bob.test", bob);
  ASSERT_EQ(same.status, 200) << same.body;
  EXPECT_EQ(body(same)["data"]["name"], "kept on 304");
  EXPECT_EQ(n.cached()["etag"], etag);

  // Changed on node A: the new body and ETag replace the old ones; the
  // relationship state is the tenant's own and stays.
  n.rename_alice("Alice Liddell");
  auto fresh = call(*n.b, "POST", "/api/profiles/alice.test/refresh", "bob.test", bob);
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  const auto d = body(fresh)["data"];
  EXPECT_EQ(d["name"], "Alice Liddell");
  EXPECT_EQ(d["type"], "community");
  EXPECT_EQ(d["following"], true);
  EXPECT_NE(n.cached()["etag"], etag);
  EXPECT_EQ(n.cached()["etag"], n.alice_me().headers.at("etag"));

  // Owner only; the own profile is not remote.
  EXPECT_EQ(call(*n.b, "POST", "/api/profiles/alice.test/refresh", "bob.test", mint(*n.b, "bob.test", "carol.test")).status, 403);
  EXPECT_EQ(call(*n.b, "POST", "/api/profiles/alice.test/refresh", "bob.test").status, 403);
  EXPECT_EQ(call(*n.b, "POST", "/api/profiles/bob.test/refresh", "bob.test", bob).status, 400);

  // Node A goes down: the cached profile stays, a refresh says so (503).
  n.a->stop();
  auto down = call(*n.b, "POST", "/api/profiles/alice.test/refresh", "bob.test", bob);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(error_code(down), "E-SYS-UNAVAIL");
  EXPECT_EQ(body(call(*n.b, "GET", "/api/profiles/alice.test", "bob.test", bob))["data"]["name"], "Alice Liddell");
}

TEST(RemoteProfile, UnreachableOrUnknownIdentitiesAreNotFound) {
  TwoNodes n;
  const auto bob = mint(*n.b, "bob.test", "bob.test");
  for (const char* who : {"nobody.test", "carol.test"}) {
    auto r = call(*n.b, "GET", std::string("/api/profiles/") + who, "bob.test", bob);
    EXPECT_EQ(r.status, 404) << who << ": " << r.body;
    EXPECT_EQ(error_code(r), "E-CORE-NOTFOUND");
    EXPECT_TRUE(n.cached(who).empty()) << who;  // nothing cached on failure
    EXPECT_EQ(call(*n.b, "POST", std::string("/api/profiles/") + who + "/refresh", "bob.test", bob).status, 404) << who;
  }
  // Not a DNS name: never fetched.
  EXPECT_EQ(call(*n.b, "GET", "/api/profiles/evil.test%2Fx", "bob.test", bob).status, 404);
  // A stub row (relationship set before any sync) is served as is; its
  // node being down makes a refresh 503, not 404.
  ASSERT_EQ(call(*n.b, "PATCH", "/api/profiles/dave.test", "bob.test", bob, {{"following", true}}).status, 200);
  EXPECT_EQ(body(call(*n.b, "GET", "/api/profiles/dave.test", "bob.test", bob))["data"]["name"], "dave.test");
  EXPECT_EQ(call(*n.b, "POST", "/api/profiles/dave.test/refresh", "bob.test", bob).status, 503);
  // Anonymous callers trigger no fetch.
  EXPECT_EQ(call(*n.b, "GET", "/api/profiles/alice.test", "bob.test").status, 403);
  EXPECT_TRUE(n.cached().empty());
}
