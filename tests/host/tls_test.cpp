// Standalone mode: TLS ≥ 1.2 with the certificate chosen by SNI per tenant
// domain, from a CA the test generates; certificates swap without restart.
#include <gtest/gtest.h>

#include <fstream>

#include "net/x509.hpp"
#include "support/fixture.hpp"

using namespace cumulo;
using namespace cumulo::test;
using json = nlohmann::json;

namespace {
void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}
}  // namespace

TEST(TlsTest, SniSelectsTenantCertificateAndReloadSwapsIt) {
  TempDir certs;
  auto ca = net::make_ca("Cumulo Test CA");
  auto alice = net::make_leaf({"cl-o.alice.test"}, &ca);
  auto bob = net::make_leaf({"cl-o.bob.test"}, &ca);
  write(certs.path / "alice.crt", alice.cert_pem);
  write(certs.path / "alice.key", alice.key_pem);
  json cfg = {{"mode", "standalone"},
              {"listenHttp", "127.0.0.1:0"},
              {"tenants", {{{"idTag", "bob.test"}}}},
              {"certs", {{{"domain", "cl-o.alice.test"}, {"cert", (certs.path / "alice.crt").string()}, {"key", (certs.path / "alice.key").string()}}}}};
  TestHost host(cfg, builtin_plugins());
  // bob's certificate goes where ACME will write it.
  write(host.data_dir() / "certs" / "cl-o.bob.test" / "cert.pem", bob.cert_pem);
  write(host.data_dir() / "certs" / "cl-o.bob.test" / "key.pem", bob.key_pem);
  host.app().reload();

  Req q;
  q.target = "/health";
  auto a = https(host.port(), "cl-o.alice.test", ca.cert_pem, q);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.peer_cn, "cl-o.alice.test");
  auto b = https(host.port(), "cl-o.bob.test", ca.cert_pem, q);
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_EQ(b.peer_cn, "cl-o.bob.test");

  // A certificate from another CA is rejected by the client: verification is real.
  auto other_ca = net::make_ca("Other CA");
  auto bad = https(host.port(), "cl-o.alice.test", other_ca.cert_pem, q);
  EXPECT_FALSE(bad.ok);

  // Renewal: new files + reload → served on the next handshake, no restart.
  auto ca2 = net::make_ca("Cumulo Test CA 2");
  auto bob2 = net::make_leaf({"cl-o.bob.test"}, &ca2);
  write(host.data_dir() / "certs" / "cl-o.bob.test" / "cert.pem", bob2.cert_pem);
  write(host.data_dir() / "certs" / "cl-o.bob.test" / "key.pem", bob2.key_pem);
  host.app().reload();
  auto b2 = https(host.port(), "cl-o.bob.test", ca2.cert_pem, q);
  ASSERT_TRUE(b2.ok) << b2.error;
  EXPECT_EQ(b2.status, 200);

  // The plain HTTP port redirects to HTTPS.
  Req plain;
  plain.target = "/api/me";
  plain.host = "cl-o.alice.test";
  auto red = http(host.app().http_port(), plain);
  EXPECT_EQ(red.status, 308);
  EXPECT_EQ(red.headers["location"], "https://cl-o.alice.test/api/me");
}

TEST(TlsTest, SelfSignedPlaceholderWhenNoCertificate) {
  TestHost host({{"mode", "standalone"}, {"listenHttp", ""}}, builtin_plugins());
  EXPECT_TRUE(fs::exists(host.data_dir() / "certs" / "cl-o.alice.test" / "cert.pem"));
  std::ifstream in(host.data_dir() / "certs" / "cl-o.alice.test" / "cert.pem");
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Req q;
  q.target = "/health";
  auto r = https(host.port(), "cl-o.alice.test", pem, q);  // trust the self-signed cert itself
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
}
