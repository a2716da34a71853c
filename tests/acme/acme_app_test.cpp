// The running server gets its certificates from a real ACME CA (pebble):
// HTTP-01 answered by the host's own plain-HTTP listener, certificates stored
// in the auth adapter, served by SNI without a restart, renewed on demand and
// reloaded from storage after a restart (spec/core.md §6.2-6.5).
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "acme/acme_client.hpp"
#include "app/certificates.hpp"
#include "runtime/cron.hpp"
#include "runtime/scheduler.hpp"
#include "support/fixture.hpp"
#include "support/pebble.hpp"

using namespace cumulo;
using namespace cumulo::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json secret(TestHost& h, const std::string& id_tag, const std::string& name) {
  auto t = h.app().backends().tenant(id_tag);
  if (!t) return nullptr;
  const std::string text = h.app().backends().for_tenant(*t)->auth.find_secret(t->ref(), name);
  return text.empty() ? json(nullptr) : json::parse(text);
}

json node_secret(TestHost& h, const std::string& name) {
  const std::string text = h.app().backends().for_profile(h.app().backends().default_profile())->auth.find_secret(plugins::TenantRef{0, ""}, name);
  return text.empty() ? json(nullptr) : json::parse(text);
}

bool has_chain(const json& rec) { return rec.is_object() && rec.contains("meta") && !rec["meta"].value("chain", std::string()).empty(); }

/// Waits for the startup renewal run: scheduling the same keyed task returns
/// the pending one (or runs a fresh pass, which is just as idempotent).
std::optional<runtime::TaskRecord> wait_startup_renewal(TestHost& h) {
  auto* s = h.app().scheduler();
  if (!s) return std::nullopt;
  const auto id = s->task(std::string(app::kAcmeRenewKind)).key("startup").priority(runtime::Priority::Low).schedule();
  return s->wait_for(id, "FE", 120s);
}

Resp get_tls(TestHost& h, const std::string& sni, const std::string& ca, const std::string& target = "/health") {
  Req q;
  q.target = target;
  return https(h.port(), sni, ca, q);
}

}  // namespace

TEST(AcmeApp, IssuesServesRenewsAndReloadsFromStorage) {
  if (!have_pebble()) GTEST_SKIP() << "/usr/bin/pebble not installed (apt-get install pebble): ACME tests skipped";
  const uint16_t http_port = free_port();
  Pebble pebble(http_port);
  TempDir shared;
  const std::string acme_hostport = "localhost:" + std::to_string(pebble.acme_port());
  const json cfg = {{"mode", "standalone"},
                    {"listen", "127.0.0.1:0"},
                    {"listenHttp", "127.0.0.1:" + std::to_string(http_port)},
                    {"dataDir", (shared.path / "data").string()},
                    {"baseAppDomain", "www.alice.test"},
                    {"tenants", {{{"idTag", "bob.test"}}}},
                    {"outbound", {{"resolve", {{acme_hostport, "127.0.0.1:" + std::to_string(pebble.acme_port())}}}}},
                    {"acme", {{"email", "ops@alice.test"}, {"directory", pebble.directory_url()}, {"caFile", pebble.api_ca_file().string()}}}};
  const std::string& root = pebble.root_pem();
  auto host = std::make_unique<TestHost>(cfg, builtin_plugins());
  ASSERT_TRUE(host->app().certificates().enabled());

  // The startup run issues both certificates; the cache is updated before the
  // secret is written, so once it is stored the next handshake must serve it.
  ASSERT_TRUE(eventually([&] { return has_chain(secret(*host, "alice.test", "tls_cert")) && has_chain(secret(*host, "bob.test", "tls_cert")); }, 120s))
      << pebble.logs();
  for (const std::string sni : {"cl-o.alice.test", "www.alice.test", "cl-o.bob.test", "bob.test"}) {
    auto r = get_tls(*host, sni, root);
    ASSERT_TRUE(r.ok) << sni << ": " << r.error;
    EXPECT_EQ(r.status, 200) << sni;
  }
  auto run = wait_startup_renewal(*host);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 'F') << run->error;

  const json alice1 = secret(*host, "alice.test", "tls_cert");
  EXPECT_EQ(alice1["meta"]["domains"], json({"cl-o.alice.test", "www.alice.test"}));
  EXPECT_EQ(secret(*host, "bob.test", "tls_cert")["meta"]["domains"], json({"cl-o.bob.test", "bob.test"}));
  EXPECT_EQ(alice1["meta"]["failures"], 0);
  const json account = node_secret(*host, "acme_account");
  ASSERT_TRUE(account.is_object());
  EXPECT_NE(account["value"].get<std::string>().find("PRIVATE KEY"), std::string::npos);

  // A different root must not verify: the served chain really is pebble's.
  EXPECT_FALSE(get_tls(*host, "cl-o.alice.test", pebble.api_ca_pem()).ok);

  // Port 80: challenges pass through (unknown token → 404 envelope), the rest redirects.
  Req ch;
  ch.host = "cl-o.alice.test";
  ch.target = "/.well-known/acme-challenge/x";
  auto nf = http(http_port, ch);
  EXPECT_EQ(nf.status, 404);
  EXPECT_NE(nf.body.find("E-CORE-NOTFOUND"), std::string::npos) << nf.body;
  ch.target = "/api/me";
  auto red = http(http_port, ch);
  EXPECT_TRUE(red.status == 308 || red.status == 301) << red.status;
  EXPECT_EQ(red.headers["location"], "https://cl-o.alice.test/api/me");

  const std::string served1 = get_tls(*host, "cl-o.alice.test", root).peer_cert_pem;
  ASSERT_FALSE(served1.empty());
  EXPECT_EQ(acme::not_after_from_pem(served1), alice1["expiresAt"].get<int64_t>());

  // Not due: the admin pass leaves both alone.
  Req renew;
  renew.method = "POST";
  renew.target = "/api/_admin/certs/renew";
  renew.headers["Authorization"] = std::string("Bearer ") + TestHost::kAdminToken;
  auto idle = https(host->port(), "cl-o.alice.test", root, renew);
  ASSERT_TRUE(idle.ok) << idle.error;
  ASSERT_EQ(idle.status, 200) << idle.body;
  const auto idle_body = json::parse(idle.body);  // the loop range must outlive the loop
  for (const auto& r : idle_body["data"]["results"]) EXPECT_EQ(r["status"], "valid") << r;
  EXPECT_EQ(get_tls(*host, "cl-o.alice.test", root).peer_cert_pem, served1);

  // Without the admin token: refused.
  Req anon = renew;
  anon.headers.clear();
  EXPECT_EQ(https(host->port(), "cl-o.alice.test", root, anon).status, 403);

  // Forced renewal: new certificates, served on the next handshake, no restart.
  renew.target += "?force=true";
  auto forced = https(host->port(), "cl-o.alice.test", root, renew);
  ASSERT_TRUE(forced.ok) << forced.error;
  ASSERT_EQ(forced.status, 200) << forced.body;
  const json results = json::parse(forced.body)["data"]["results"];
  ASSERT_EQ(results.size(), 2u) << results;
  for (const auto& r : results) EXPECT_EQ(r["status"], "issued") << r;
  const auto after = get_tls(*host, "cl-o.alice.test", root);
  ASSERT_TRUE(after.ok) << after.error;
  const std::string served2 = after.peer_cert_pem;
  EXPECT_NE(served2, served1);
  const json alice2 = secret(*host, "alice.test", "tls_cert");
  EXPECT_NE(alice2["value"], alice1["value"]);  // a new key too
  EXPECT_EQ(acme::not_after_from_pem(served2), alice2["expiresAt"].get<int64_t>());
  EXPECT_EQ(alice2["meta"]["chain"].get<std::string>().rfind(served2, 0), 0u);  // leaf first
  const std::string bob2 = get_tls(*host, "cl-o.bob.test", root).peer_cert_pem;
  EXPECT_EQ(acme::not_after_from_pem(bob2), secret(*host, "bob.test", "tls_cert")["expiresAt"].get<int64_t>());

  // Restart on the same data: the stored certificates are served at once and
  // the startup pass issues nothing new.
  host.reset();
  host = std::make_unique<TestHost>(cfg, builtin_plugins());
  auto first = get_tls(*host, "cl-o.alice.test", root);
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.peer_cert_pem, served2);
  EXPECT_EQ(get_tls(*host, "cl-o.bob.test", root).peer_cert_pem, bob2);
  run = wait_startup_renewal(*host);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 'F') << run->error;
  EXPECT_EQ(secret(*host, "alice.test", "tls_cert"), alice2);
  EXPECT_EQ(get_tls(*host, "cl-o.alice.test", root).peer_cert_pem, served2);
  EXPECT_EQ(node_secret(*host, "acme_account"), account);  // the same ACME account
}

TEST(AcmeApp, FailuresAreRecordedPerTenantAndDoNotStopOthers) {
  TempDir shared;
  // Nothing listens there: every issuance fails with a transport error.
  const json cfg = {{"mode", "standalone"},
                    {"listenHttp", "127.0.0.1:0"},
                    {"tenants", {{{"idTag", "bob.test"}}}},
                    {"acme", {{"email", "ops@alice.test"}, {"directory", "https://127.0.0.1:" + std::to_string(free_port()) + "/dir"}}}};
  TestHost host(cfg, builtin_plugins());
  auto run = wait_startup_renewal(host);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 'F') << run->error;  // failures are per tenant, not the task's
  EXPECT_EQ(json::parse(run->output), (json{{"tenants", 2}, {"failed", 2}}));

  // The startup pass may have run once or (if it finished before we asked) twice.
  std::map<std::string, int> before;
  for (const std::string tag : {"alice.test", "bob.test"}) {
    const json rec = secret(host, tag, "tls_cert");
    ASSERT_TRUE(rec.is_object()) << tag;
    before[tag] = rec["meta"]["failures"].get<int>();
    EXPECT_GE(before[tag], 1) << tag;
  }
  const auto results = host.app().certificates().renew_due(static_cast<int64_t>(std::time(nullptr)));
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status, "failed") << r.id_tag;
    EXPECT_EQ(r.failures, before[r.id_tag] + 1) << r.id_tag;
    EXPECT_FALSE(r.error.empty());
    const json rec = secret(host, r.id_tag, "tls_cert");
    ASSERT_TRUE(rec.is_object()) << r.id_tag;
    EXPECT_EQ(rec["value"], "");
    EXPECT_FALSE(has_chain(rec));
    EXPECT_EQ(rec["meta"]["failures"], r.failures);
    EXPECT_EQ(rec["meta"]["lastError"], r.error);
  }
  // The self-signed placeholder keeps HTTPS up meanwhile.
  EXPECT_TRUE(fs::exists(host.data_dir() / "certs" / "cl-o.bob.test" / "cert.pem"));
}

TEST(AcmeApp, OffWithoutEmailAndInProxyMode) {
  TestHost proxy({{"acme", {{"email", "ops@alice.test"}}}}, builtin_plugins());  // fixture default: proxy mode
  EXPECT_FALSE(proxy.app().certificates().enabled());
  EXPECT_TRUE(proxy.app().certificates().renew_due(0, true).empty());
  auto r = proxy.admin("POST", "/api/_admin/certs/renew");
  EXPECT_EQ(r.status, 409) << r.body;
  auto ch = proxy.get("/.well-known/acme-challenge/unknown");
  EXPECT_EQ(ch.status, 404);
  proxy.app().certificates().challenges().put("tok", "tok.thumb");
  ch = proxy.get("/.well-known/acme-challenge/tok");
  EXPECT_EQ(ch.status, 200);
  EXPECT_EQ(ch.body, "tok.thumb");
  EXPECT_EQ(ch.headers["content-type"].rfind("text/plain", 0), 0u) << ch.headers["content-type"];
}

TEST(AcmeApp, DailyCronIsStablePerDeployment) {
  const std::string a = app::CertificateManager::daily_cron("alice.test");
  EXPECT_EQ(a, app::CertificateManager::daily_cron("alice.test"));
  std::string err;
  EXPECT_TRUE(runtime::CronSchedule::parse(a, &err)) << a << ": " << err;
  // Different deployments spread over the day.
  std::set<std::string> seen;
  for (const char* tag : {"alice.test", "bob.test", "carol.test", "dave.test", "erin.test"}) seen.insert(app::CertificateManager::daily_cron(tag));
  EXPECT_GE(seen.size(), 4u);
}
