// Outbound HTTP client and ACME issuance against a real CA: Debian's pebble
// with pebble-challtestsrv as its DNS (every name → 127.0.0.1), started by
// tests/support/pebble.hpp on free loopback ports. HTTP-01 answers come from
// a tiny Asio listener in this file that reads the acme::ChallengeStore.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include "acme/acme_client.hpp"
#include "net/http_client.hpp"
#include "net/x509.hpp"
#include "support/fixture.hpp"
#include "support/pebble.hpp"

namespace cumulo {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using test::free_port;
using test::have_pebble;
using test::Pebble;
using namespace std::chrono_literals;

std::string reply(int status, const std::string& body, const std::string& extra = "", bool content_length = true) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nConnection: close\r\nContent-Type: text/plain\r\n" + extra;
  if (content_length) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

// ------------------------------------------------------------ a tiny HTTP server

/// One request per connection. The handler gets the request head and returns
/// the raw response, or nullopt to hold the connection open without answering.
class TinyHttp {
 public:
  using Handler = std::function<std::optional<std::string>(const std::string& method, const std::string& target, const std::string& head)>;

  explicit TinyHttp(Handler h) : handler_(std::move(h)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TinyHttp() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  /// Closes the connections the handler chose not to answer.
  void release_held() {
    asio::post(io_, [this] { held_.clear(); });
  }

 private:
  struct Conn {
    explicit Conn(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    asio::streambuf buf;
    std::string out;
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      read(std::make_shared<Conn>(std::move(s)));
      accept();
    });
  }

  void read(const std::shared_ptr<Conn>& c) {
    asio::async_read_until(c->sock, c->buf, "\r\n\r\n", [this, c](boost::system::error_code ec, size_t n) {
      if (ec) return;
      std::string head(asio::buffers_begin(c->buf.data()), asio::buffers_begin(c->buf.data()) + static_cast<std::ptrdiff_t>(n));
      const auto sp1 = head.find(' ');
      const auto sp2 = head.find(' ', sp1 + 1);
      auto resp = handler_(head.substr(0, sp1), head.substr(sp1 + 1, sp2 - sp1 - 1), head);
      if (!resp) {
        held_.push_back(c);  // io thread only
        return;
      }
      c->out = std::move(*resp);
      asio::async_write(c->sock, asio::buffer(c->out), [c](boost::system::error_code, size_t) {
        boost::system::error_code ignored;
        c->sock.shutdown(tcp::socket::shutdown_both, ignored);
      });
    });
  }

  Handler handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<Conn>> held_;
  std::thread thread_;
};

// ------------------------------------------------------------ certificate checks

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

std::vector<X509Ptr> read_chain(const std::string& pem) {
  std::vector<X509Ptr> out;
  std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  while (X509* c = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) out.emplace_back(c, &X509_free);
  ERR_clear_error();  // the loop ends on a "no start line" error
  return out;
}

std::set<std::string> dns_sans(X509* cert) {
  std::set<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) out.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)), ASN1_STRING_length(g->d.dNSName));
  }
  GENERAL_NAMES_free(names);
  return out;
}

/// Verifies leaf → intermediates → `root_pem` for TLS server use and `host`.
std::string verify_chain(const std::string& chain_pem, const std::string& root_pem, const std::string& host) {
  auto chain = read_chain(chain_pem);
  auto roots = read_chain(root_pem);
  if (chain.empty() || roots.empty()) return "no certificates";
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  X509_STORE_add_cert(store.get(), roots.front().get());
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> untrusted(sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_free(s); });
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted.get());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()), host.c_str(), host.size());
  if (X509_verify_cert(ctx.get()) == 1) return "ok";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

bool key_matches(const std::string& chain_pem, const std::string& key_pem) {
  auto chain = read_chain(chain_pem);
  std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  return !chain.empty() && k && X509_check_private_key(chain.front().get(), k.get()) == 1;
}

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

// ============================================================ HttpClient (local)

class HttpClientTest : public ::testing::Test {
 protected:
  std::atomic<int> requests{0};
  std::mutex mu;
  std::string last_host_;  // set on the server thread
  std::string last_host() {
    std::lock_guard lk(mu);
    return last_host_;
  }
  TinyHttp server{[this](const std::string& method, const std::string& target, const std::string& head) -> std::optional<std::string> {
    ++requests;
    const auto h = head.find("\r\nHost: ");
    {
      std::lock_guard lk(mu);
      last_host_ = h == std::string::npos ? "" : head.substr(h + 8, head.find("\r\n", h + 8) - h - 8);
    }
    if (target == "/hang") return std::nullopt;
    if (target == "/big") return reply(200, std::string(10000, 'x'));
    if (target == "/big-unsized") return reply(200, std::string(10000, 'x'), "", false);
    if (target == "/redirect") return reply(302, "", "Location: /hello\r\n");
    if (target == "/missing") return reply(404, "nope");
    return reply(200, method + " " + target, "X-Mixed-Case: Value 1\r\nX-Mixed-Case: Value 2\r\n");
  }};
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(server.port()) + path; }
};

TEST_F(HttpClientTest, ReturnsStatusBodyAndLowerCasedHeaders) {
  net::HttpClient http;
  auto r = http.request(net::ClientRequest::get(url("/hello")));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /hello");
  EXPECT_EQ(r.header("x-mixed-case"), "Value 1");
  EXPECT_EQ(r.header_values("x-mixed-case"), (std::vector<std::string>{"Value 1", "Value 2"}));
  EXPECT_FALSE(r.header("X-Mixed-Case"));  // names are stored lower-case

  auto p = http.request(net::ClientRequest::post(url("/submit"), "{}", "application/json"));
  EXPECT_EQ(p.body, "POST /submit");

  auto m = http.request(net::ClientRequest::get(url("/missing")));  // HTTP errors are responses
  EXPECT_EQ(m.status, 404);
  EXPECT_EQ(m.body, "nope");
}

TEST_F(HttpClientTest, DoesNotFollowRedirectsUnlessAsked) {
  net::HttpClient http;
  auto r = http.request(net::ClientRequest::get(url("/redirect")));
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.header("location"), "/hello");
  auto req = net::ClientRequest::get(url("/redirect"));
  req.follow_redirects = true;
  auto f = http.request(req);
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(f.body, "GET /hello");
  EXPECT_FALSE(f.header("location"));  // headers are the final response's
}

TEST_F(HttpClientTest, ConnectToOverrideKeepsTheOriginalHost) {
  net::HttpClientOptions o;
  o.connect_to["cl-o.alice.test:443"] = "127.0.0.1:" + std::to_string(server.port());
  net::HttpClient http(o);
  auto r = http.request(net::ClientRequest::get("http://cl-o.alice.test:443/api/me"));
  EXPECT_EQ(r.body, "GET /api/me");
  EXPECT_EQ(last_host(), "cl-o.alice.test:443");
  // Other names are not affected: this one does not resolve at all.
  try {
    http.request(net::ClientRequest::get("http://cl-o.bob.invalid:443/"));
    FAIL() << "expected a connect error";
  } catch (const net::HttpError& e) {
    EXPECT_EQ(e.kind(), net::HttpError::Kind::kConnect) << e.what();
  }
  net::HttpClientOptions bad;
  bad.connect_to["no-port"] = "127.0.0.1:1";
  EXPECT_THROW(net::HttpClient{bad}, std::invalid_argument);
}

TEST_F(HttpClientTest, TypedErrors) {
  net::HttpClient http;
  auto expect_kind = [&](net::ClientRequest req, net::HttpError::Kind kind, const std::string& fragment) {
    try {
      http.request(req);
      ADD_FAILURE() << "no error for " << req.url;
    } catch (const net::HttpError& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_kind(net::ClientRequest::get("http://127.0.0.1:" + std::to_string(free_port()) + "/"), net::HttpError::Kind::kConnect, "127.0.0.1");

  auto hang = net::ClientRequest::get(url("/hang"));
  hang.timeout_ms = 300;
  const auto t0 = std::chrono::steady_clock::now();
  expect_kind(hang, net::HttpError::Kind::kTimeout, "/hang");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

  auto big = net::ClientRequest::get(url("/big"));
  big.max_body = 1000;
  expect_kind(big, net::HttpError::Kind::kTooLarge, "1000");
  auto unsized = net::ClientRequest::get(url("/big-unsized"));  // no Content-Length: caught while streaming
  unsized.max_body = 1000;
  expect_kind(unsized, net::HttpError::Kind::kTooLarge, "1000");
  unsized.max_body = 10000;  // exactly the limit is fine
  EXPECT_EQ(http.request(unsized).body.size(), 10000u);

  expect_kind(net::ClientRequest::get("ftp://127.0.0.1/"), net::HttpError::Kind::kProtocol, "ftp");
  auto lower = net::ClientRequest::get(url("/"));
  lower.method = "get";
  EXPECT_THROW(http.request(lower), std::invalid_argument);
}

// ============================================================ ACME against pebble

/// The HTTP-01 responder: what the real server's port-80 listener will do.
struct Http01Responder {
  acme::ChallengeStore store;
  std::atomic<bool> corrupt{false};  // answer with a wrong key authorization
  std::atomic<bool> hang{false};     // never answer: validation stays pending
  std::atomic<int> served{0};
  TinyHttp server{[this](const std::string&, const std::string& target, const std::string&) -> std::optional<std::string> {
    static const std::string prefix = "/.well-known/acme-challenge/";
    if (target.rfind(prefix, 0) != 0) return reply(404, "");
    auto ka = store.get(target.substr(prefix.size()));
    if (!ka) return reply(404, "");
    if (hang) return std::nullopt;
    ++served;
    return reply(200, corrupt ? *ka + "x" : *ka);
  }};
};

class AcmeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_pebble()) return;
    responder_ = new Http01Responder;
    pebble_ = new Pebble(responder_->server.port(), 0);
  }
  static void TearDownTestSuite() {
    delete pebble_;
    delete responder_;
    pebble_ = nullptr;
    responder_ = nullptr;
  }
  void SetUp() override {
    if (!have_pebble()) GTEST_SKIP() << "/usr/bin/pebble not installed (apt-get install pebble): ACME tests skipped";
    responder_->corrupt = false;
    responder_->hang = false;
    responder_->served = 0;
  }
  void TearDown() override {
    if (HasFailure() && pebble_) std::cerr << "---- pebble log ----\n" << pebble_->logs() << "\n";
  }

  static acme::AcmeOptions options(std::string key_pem = acme::generate_account_key_pem()) {
    acme::AcmeOptions o;
    o.directory_url = pebble_->directory_url();
    o.account_key_pem = std::move(key_pem);
    o.contact_email = "admin@alice.test";
    o.poll_initial = 50ms;  // pebble validates at once with PEBBLE_VA_NOSLEEP
    o.poll_max = 400ms;
    o.deadline = 60s;
    return o;
  }

  static Http01Responder* responder_;
  static Pebble* pebble_;
};
Http01Responder* AcmeTest::responder_ = nullptr;
Pebble* AcmeTest::pebble_ = nullptr;

TEST_F(AcmeTest, IssuesSanCertificateViaHttp01) {
  auto o = options();
  std::vector<std::chrono::milliseconds> waits;
  o.sleep = [&](std::chrono::milliseconds d) {
    waits.push_back(d);
    std::this_thread::sleep_for(d);  // the client's own backoff, recorded
  };
  acme::AcmeClient client(pebble_->http(), responder_->store, o);
  const auto domains = acme::cert_domains("alice.test", "alice.test");
  ASSERT_EQ(domains, (std::vector<std::string>{"cl-o.alice.test", "alice.test"}));

  const int64_t before = unix_now();
  acme::IssuedCert cert = client.issue(domains);

  EXPECT_GE(responder_->served, 2);         // pebble fetched both tokens from us
  EXPECT_EQ(responder_->store.size(), 0u);  // withdrawn after issuance
  auto chain = read_chain(cert.chain_pem);
  ASSERT_GE(chain.size(), 2u) << cert.chain_pem;  // leaf + pebble intermediate
  EXPECT_EQ(dns_sans(chain.front().get()), (std::set<std::string>{"cl-o.alice.test", "alice.test"}));
  EXPECT_EQ(verify_chain(cert.chain_pem, pebble_->root_pem(), "cl-o.alice.test"), "ok");
  EXPECT_EQ(verify_chain(cert.chain_pem, pebble_->root_pem(), "alice.test"), "ok");
  EXPECT_NE(verify_chain(cert.chain_pem, pebble_->root_pem(), "bob.test"), "ok");
  EXPECT_NE(verify_chain(cert.chain_pem, pebble_->api_ca_pem(), "alice.test"), "ok");  // a different root must not do
  EXPECT_TRUE(key_matches(cert.chain_pem, cert.key_pem));
  EXPECT_EQ(acme::not_after_from_pem(cert.chain_pem), cert.not_after);
  EXPECT_GT(cert.not_after, before + 31 * 86400);
  EXPECT_FALSE(acme::needs_renewal(cert.not_after, unix_now()));
  EXPECT_TRUE(acme::needs_renewal(cert.not_after, cert.not_after - 29 * 86400));

  for (size_t i = 1; i < waits.size(); ++i) {  // backoff never shrinks, stays capped
    EXPECT_GE(waits[i], 50ms);
    EXPECT_LE(waits[i], o.poll_max);
  }
  EXPECT_EQ(client.stats().bad_nonce_retries, 0u);

  // A second certificate for the same tenant gets a new key (renewal path).
  acme::IssuedCert again = client.issue(domains);
  EXPECT_NE(again.key_pem, cert.key_pem);
  EXPECT_EQ(verify_chain(again.chain_pem, pebble_->root_pem(), "cl-o.alice.test"), "ok");
}

TEST_F(AcmeTest, AccountIsIdentifiedByItsKey) {
  const std::string key = acme::generate_account_key_pem();
  acme::AcmeClient a(pebble_->http(), responder_->store, options(key));
  acme::AcmeClient b(pebble_->http(), responder_->store, options(key));
  acme::AcmeClient c(pebble_->http(), responder_->store, options());
  const std::string url = a.ensure_account();
  EXPECT_EQ(url.rfind("https://localhost:" + std::to_string(pebble_->acme_port()) + "/", 0), 0u) << url;
  EXPECT_EQ(b.ensure_account(), url);  // the stored PEM brings the same account back
  EXPECT_NE(c.ensure_account(), url);
  EXPECT_EQ(a.thumbprint(), b.thumbprint());
  EXPECT_EQ(a.thumbprint().size(), 43u);  // base64url(SHA-256)
  EXPECT_THROW(acme::AcmeClient(pebble_->http(), responder_->store, options("not a key")), std::invalid_argument);
}

TEST_F(AcmeTest, WrongChallengeAnswerFailsWithTheProblemDocument) {
  responder_->corrupt = true;
  acme::AcmeClient client(pebble_->http(), responder_->store, options());
  try {
    client.issue(acme::cert_domains("mallory.test", ""));
    FAIL() << "issued a certificate for a wrong key authorization";
  } catch (const acme::AcmeError& e) {
    EXPECT_EQ(e.type(), "urn:ietf:params:acme:error:unauthorized") << e.what();
    EXPECT_NE(e.detail().find("mallory.test"), std::string::npos) << e.detail();
    EXPECT_NE(std::string(e.what()).find(e.detail()), std::string::npos);
  }
  EXPECT_GE(responder_->served, 1);
  EXPECT_EQ(responder_->store.size(), 0u);  // tokens withdrawn on failure too
}

TEST_F(AcmeTest, ServerErrorsCarryTheAcmeProblemType) {
  acme::AcmeClient client(pebble_->http(), responder_->store, options());
  try {
    client.issue({"not a domain!"});
    FAIL() << "pebble accepted an invalid identifier";
  } catch (const acme::AcmeError& e) {
    EXPECT_EQ(e.type().rfind("urn:ietf:params:acme:error:", 0), 0u) << e.what();
    EXPECT_EQ(e.http_status(), 400);
  }
  EXPECT_EQ(responder_->served, 0);
}

TEST_F(AcmeTest, DeadlineBoundsTheWholeExchange) {
  auto o = options();
  // An injected clock: each backoff wait advances it instead of sleeping.
  auto fake_now = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  auto slept = std::make_shared<std::chrono::milliseconds>(0);
  o.now = [fake_now] { return *fake_now; };
  o.sleep = [fake_now, slept](std::chrono::milliseconds d) {
    *fake_now += d;
    *slept += d;
  };
  o.deadline = 10s;
  o.poll_initial = 1s;
  o.poll_max = 4s;
  responder_->hang = true;  // pebble's validation never completes
  acme::AcmeClient client(pebble_->http(), responder_->store, o);
  try {
    client.issue(acme::cert_domains("slow.test", ""));
    ADD_FAILURE() << "issued without a validation";
  } catch (const acme::AcmeError& e) {
    EXPECT_EQ(e.type(), acme::kErrTimeout) << e.what();
    EXPECT_NE(e.detail().find("authorization"), std::string::npos) << e.detail();
  }
  EXPECT_EQ(*slept, 1s + 2s + 4s);  // 1 s, doubling, capped; the next 4 s would pass the deadline
  EXPECT_EQ(responder_->store.size(), 0u);
  responder_->server.release_held();
}

TEST_F(AcmeTest, HttpsTrustAndHostnameAreChecked) {
  const std::string url = pebble_->directory_url();
  net::HttpClient no_ca;  // system store: pebble's test CA is not in it
  try {
    no_ca.request(net::ClientRequest::get(url));
    FAIL() << "untrusted certificate accepted";
  } catch (const net::HttpError& e) {
    EXPECT_EQ(e.kind(), net::HttpError::Kind::kTls) << e.what();
  }
  // Trusted CA but the certificate names "localhost", not this host.
  net::HttpClientOptions o;
  o.ca_pem = pebble_->api_ca_pem();
  o.connect_to["acme.other.test:" + std::to_string(pebble_->acme_port())] = "127.0.0.1:" + std::to_string(pebble_->acme_port());
  net::HttpClient mismatch(o);
  try {
    mismatch.request(net::ClientRequest::get("https://acme.other.test:" + std::to_string(pebble_->acme_port()) + "/dir"));
    FAIL() << "hostname mismatch accepted";
  } catch (const net::HttpError& e) {
    EXPECT_EQ(e.kind(), net::HttpError::Kind::kTls) << e.what();
  }
  EXPECT_EQ(pebble_->http().request(net::ClientRequest::get(url)).status, 200);
}

// ------------------------------------------------------------ badNonce

TEST(AcmeBadNonce, RetriesOnceWithTheFreshNonce) {
  if (!have_pebble()) GTEST_SKIP() << "/usr/bin/pebble not installed (apt-get install pebble): ACME tests skipped";
  Http01Responder responder;
  Pebble pebble(responder.server.port(), 50);  // pebble rejects half of all good nonces
  // Each registration is one POST: accepted, rejected-then-accepted (the
  // retry path), or rejected twice (the error surfaces). Loop until both
  // outcomes of a retry were seen; 400 tries miss one with p < 1e-40.
  bool retry_succeeded = false, retry_failed = false;
  for (int i = 0; i < 400 && !(retry_succeeded && retry_failed); ++i) {
    acme::AcmeOptions o;
    o.directory_url = pebble.directory_url();
    o.account_key_pem = acme::generate_account_key_pem();
    acme::AcmeClient client(pebble.http(), responder.store, o);
    try {
      client.ensure_account();
      EXPECT_EQ(client.stats().posts, 1 + client.stats().bad_nonce_retries);
      if (client.stats().bad_nonce_retries == 1) retry_succeeded = true;
    } catch (const acme::AcmeError& e) {
      EXPECT_EQ(e.type(), acme::kErrBadNonce) << e.what();
      EXPECT_EQ(client.stats().posts, 2u);  // exactly one retry
      EXPECT_EQ(client.stats().bad_nonce_retries, 1u);
      retry_failed = true;
    }
  }
  EXPECT_TRUE(retry_succeeded);
  EXPECT_TRUE(retry_failed);
}

// ------------------------------------------------------------ pure helpers

TEST(AcmeRenewal, ThirtyDayThreshold) {
  const int64_t now = 1'750'000'000;
  EXPECT_TRUE(acme::needs_renewal(now + 29 * 86400, now));
  EXPECT_FALSE(acme::needs_renewal(now + 31 * 86400, now));
  EXPECT_FALSE(acme::needs_renewal(now + 30 * 86400, now));  // exactly 30 days left: not yet
  EXPECT_TRUE(acme::needs_renewal(now - 1, now));            // expired
  EXPECT_TRUE(acme::needs_renewal(now + 3 * 86400, now, std::chrono::hours(24 * 7)));
}

TEST(AcmeRenewal, NotAfterFromPemChain) {
  const int64_t now = unix_now();
  const auto ca = net::make_ca("test CA", 400);
  const auto leaf = net::make_leaf({"cl-o.alice.test"}, &ca, 10);
  auto na = acme::not_after_from_pem(leaf.cert_pem + ca.cert_pem);  // the first certificate counts
  ASSERT_TRUE(na);
  EXPECT_NEAR(static_cast<double>(*na), static_cast<double>(now + 10 * 86400), 120.0);
  EXPECT_TRUE(acme::needs_renewal(*na, now));
  EXPECT_FALSE(acme::not_after_from_pem("garbage"));
  EXPECT_FALSE(acme::not_after_from_pem(""));
}

TEST(AcmeChallengeStore, PutGetErase) {
  acme::ChallengeStore s;
  EXPECT_FALSE(s.get("t"));
  s.put("t", "t.thumb");
  EXPECT_EQ(s.get("t"), "t.thumb");
  EXPECT_EQ(s.size(), 1u);
  s.erase("t");
  EXPECT_FALSE(s.get("t"));
  EXPECT_EQ(acme::cert_domains("bob.test", "bob.example"), (std::vector<std::string>{"cl-o.bob.test", "bob.example"}));
}

}  // namespace
}  // namespace cumulo
