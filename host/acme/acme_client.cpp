#include "acme/acme_client.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "identity/action_token.hpp"  // ecdsa_der_to_raw
#include "identity/base64url.hpp"
#include "identity/keys.hpp"
#include "identity/ossl.hpp"

namespace cumulo::acme {

using nlohmann::json;
using std::chrono::milliseconds;
namespace ossl = identity::ossl;

// ---------------------------------------------------------------- ChallengeStore

void ChallengeStore::put(const std::string& token, const std::string& key_authorization) {
  std::lock_guard lk(mu_);
  map_[token] = key_authorization;
}

void ChallengeStore::erase(const std::string& token) {
  std::lock_guard lk(mu_);
  map_.erase(token);
}

std::optional<std::string> ChallengeStore::get(const std::string& token) const {
  std::lock_guard lk(mu_);
  auto it = map_.find(token);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

size_t ChallengeStore::size() const {
  std::lock_guard lk(mu_);
  return map_.size();
}

AcmeError::AcmeError(std::string type, std::string detail, long http_status)
    : std::runtime_error("acme: " + type + ": " + detail), type_(std::move(type)), detail_(std::move(detail)), status_(http_status) {}

// ---------------------------------------------------------------- helpers

namespace {

using X509Ptr = std::unique_ptr<X509, ossl::Deleter<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, ossl::Deleter<X509_REQ_free>>;

[[noreturn]] void protocol_error(const std::string& what) { throw AcmeError(std::string(kErrProtocol), what); }

json parse_json(const net::ClientResponse& r, const std::string& what) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) protocol_error(what + ": response is not a JSON object");
  return j;
}

std::string str_field(const json& j, const char* key, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) protocol_error(what + ": missing string \"" + key + "\"");
  return it->get<std::string>();
}

std::string bio_string(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string private_pem(EVP_PKEY* k) {
  ossl::Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1) throw std::runtime_error("acme: cannot encode key");
  return bio_string(b.get());
}

// RFC 8555 §8.1: tokens are base64url; anything else must never reach a URL path.
bool valid_token(std::string_view t) {
  return t.size() >= 16 && t.size() <= 256 && std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

// CSR (DER) with every domain as a dNSName SAN; CN only when it fits (64 chars).
std::string make_csr(const std::vector<std::string>& domains, EVP_PKEY* key) {
  ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1) throw std::runtime_error("acme: X509_REQ_new failed");
  if (domains.front().size() <= 64) {
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(domains.front().c_str()), -1, -1, 0);
  }
  if (X509_REQ_set_pubkey(req.get(), key) != 1) throw std::runtime_error("acme: X509_REQ_set_pubkey failed");

  std::unique_ptr<GENERAL_NAMES, ossl::Deleter<GENERAL_NAMES_free>> names(sk_GENERAL_NAME_new_null());
  for (const auto& d : domains) {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    GENERAL_NAME* g = GENERAL_NAME_new();
    if (!s || !g || ASN1_STRING_set(s, d.data(), static_cast<int>(d.size())) != 1) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(g);
      throw std::runtime_error("acme: SAN allocation failed");
    }
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(names.get(), g);
  }
  X509_EXTENSION* san = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  if (!san || !exts) throw std::runtime_error("acme: SAN extension failed");
  sk_X509_EXTENSION_push(exts, san);
  const int added = X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (added != 1) throw std::runtime_error("acme: X509_REQ_add_extensions failed");
  if (X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) throw std::runtime_error("acme: X509_REQ_sign failed");

  unsigned char* der = nullptr;
  const int n = i2d_X509_REQ(req.get(), &der);
  if (n <= 0) throw std::runtime_error("acme: i2d_X509_REQ failed");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

// A string member or `def` (json::value() would throw on a wrong type).
std::string text(const json& j, const char* key, std::string def) {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

// The authorization's domain, for error messages.
std::string identifier_of(const json& authz) {
  auto it = authz.find("identifier");
  if (it == authz.end() || !it->is_object()) return "?";
  auto v = it->find("value");
  return v != it->end() && v->is_string() ? v->get<std::string>() : "?";
}

// Withdraws published tokens however issue() ends.
struct TokenGuard {
  ChallengeStore& store;
  std::vector<std::string> tokens;
  ~TokenGuard() {
    for (const auto& t : tokens) store.erase(t);
  }
};

}  // namespace

// ---------------------------------------------------------------- AcmeClient

struct AcmeClient::Impl {
  const net::HttpClient& http;
  ChallengeStore& store;
  AcmeOptions o;
  std::optional<identity::EcKey> key;
  std::string alg;
  size_t half = 32;  // bytes of r (and s)
  const EVP_MD* md = nullptr;
  json jwk;
  std::string thumb;
  json dir;
  std::string nonce;
  std::string kid;
  AcmeStats stats;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  Impl(const net::HttpClient& h, ChallengeStore& s, AcmeOptions opts) : http(h), store(s), o(std::move(opts)) {
    if (!o.now) o.now = [] { return std::chrono::steady_clock::now(); };
    if (!o.sleep) o.sleep = [](milliseconds d) { std::this_thread::sleep_for(d); };
    key = identity::EcKey::from_pem(o.account_key_pem);
    if (!key || !key->has_private()) throw std::invalid_argument("acme: account key must be an EC P-256/P-384 private key (PKCS#8 PEM)");
    const bool p256 = key->curve() == identity::Curve::kP256;
    alg = p256 ? "ES256" : "ES384";
    half = p256 ? 32 : 48;
    md = p256 ? EVP_sha256() : EVP_sha384();
    const std::string point = key->public_point();  // 0x04 ‖ X ‖ Y
    jwk = {{"crv", p256 ? "P-256" : "P-384"},
           {"kty", "EC"},
           {"x", identity::base64url_encode(std::string_view(point).substr(1, half))},
           {"y", identity::base64url_encode(std::string_view(point).substr(1 + half, half))}};
    // RFC 7638: members in lexicographic order, no whitespace — exactly
    // nlohmann's compact dump of an object (std::map ordering).
    thumb = identity::base64url_encode(digest(EVP_sha256(), jwk.dump()));
  }

  static std::string digest(const EVP_MD* m, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out, &n, m, nullptr) != 1) throw std::runtime_error("acme: digest failed");
    return std::string(reinterpret_cast<char*>(out), n);
  }

  std::string sign(std::string_view input) const {
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key->get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      throw std::runtime_error("acme: signing failed");
    std::string der(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      throw std::runtime_error("acme: signing failed");
    der.resize(len);
    auto raw = identity::ecdsa_der_to_raw(der, half);
    if (!raw) throw std::runtime_error("acme: bad ECDSA signature encoding");
    return *raw;
  }

  uint32_t timeout_ms() const {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - o.now());
    if (left.count() <= 0) throw AcmeError(std::string(kErrTimeout), "deadline of " + std::to_string(o.deadline.count()) + " ms exceeded");
    return static_cast<uint32_t>(std::min<int64_t>(left.count(), o.request_timeout_ms));
  }

  net::ClientResponse send(net::ClientRequest req) {
    req.timeout_ms = timeout_ms();
    req.max_body = 1u << 20;
    try {
      auto r = http.request(req);
      if (auto n = r.header("replay-nonce")) nonce = *n;
      return r;
    } catch (const net::HttpError& e) {
      throw AcmeError(std::string(kErrTransport), e.what());
    }
  }

  const json& directory() {
    if (dir.is_null()) {
      auto r = send(net::ClientRequest::get(o.directory_url));
      if (r.status != 200) protocol_error("directory " + o.directory_url + ": HTTP " + std::to_string(r.status));
      json d = parse_json(r, "directory");
      for (const char* k : {"newNonce", "newAccount", "newOrder"}) str_field(d, k, "directory");
      dir = std::move(d);
    }
    return dir;
  }

  std::string take_nonce() {
    if (nonce.empty()) {
      auto head = net::ClientRequest::get(directory()["newNonce"].get<std::string>());
      head.method = "HEAD";
      auto r = send(std::move(head));
      if (nonce.empty()) protocol_error("newNonce: HTTP " + std::to_string(r.status) + " without Replay-Nonce");
    }
    return std::exchange(nonce, {});
  }

  /// A JWS POST; `payload` nullopt = POST-as-GET (empty payload). Problem
  /// documents become AcmeError; badNonce is retried once with the fresh
  /// nonce that came with the rejection.
  net::ClientResponse post(const std::string& url, const std::optional<json>& payload, bool use_jwk = false, const char* accept = nullptr) {
    const std::string payload_b64 = payload ? identity::base64url_encode(payload->dump()) : std::string();
    for (int attempt = 0;; ++attempt) {
      json prot = {{"alg", alg}, {"nonce", take_nonce()}, {"url", url}};
      if (use_jwk)
        prot["jwk"] = jwk;
      else
        prot["kid"] = kid;
      const std::string prot_b64 = identity::base64url_encode(prot.dump());
      const json body = {{"protected", prot_b64}, {"payload", payload_b64}, {"signature", identity::base64url_encode(sign(prot_b64 + "." + payload_b64))}};
      auto req = net::ClientRequest::post(url, body.dump(), "application/jose+json");
      if (accept) req.headers.emplace_back("Accept", accept);
      ++stats.posts;
      auto r = send(std::move(req));
      if (r.status < 400) return r;
      json problem = json::parse(r.body, nullptr, false);
      std::string type = std::string(kErrProtocol), detail = "HTTP " + std::to_string(r.status) + " from " + url;
      if (problem.is_object()) {
        type = text(problem, "type", type);
        detail = text(problem, "detail", detail);
      }
      if (type == kErrBadNonce && attempt == 0) {
        ++stats.bad_nonce_retries;
        continue;
      }
      throw AcmeError(type, detail, r.status);
    }
  }

  const std::string& ensure_account() {
    if (!kid.empty()) return kid;
    json payload = {{"termsOfServiceAgreed", true}};
    if (!o.contact_email.empty()) payload["contact"] = json::array({"mailto:" + o.contact_email});
    auto r = post(directory()["newAccount"].get<std::string>(), payload, /*use_jwk=*/true);
    json acct = parse_json(r, "newAccount");
    if (text(acct, "status", "") != "valid") protocol_error("account status is " + text(acct, "status", "<none>"));
    auto loc = r.header("location");
    if (!loc || loc->empty()) protocol_error("newAccount: no Location header");
    kid = *loc;
    return kid;
  }

  /// Backoff between polls: poll_initial doubling to poll_max, a server's
  /// Retry-After (seconds) honoured up to poll_max, never past the deadline.
  struct Backoff {
    Impl& c;
    milliseconds next;
    void wait(const net::ClientResponse& r, const std::string& what) {
      milliseconds d = next;
      if (auto ra = r.header("retry-after");
          ra && !ra->empty() && std::all_of(ra->begin(), ra->end(), [](unsigned char ch) { return std::isdigit(ch) != 0; }) && ra->size() < 6)
        d = std::max(d, milliseconds(std::stoll(*ra) * 1000));
      d = std::min(d, c.o.poll_max);
      const auto left = std::chrono::duration_cast<milliseconds>(c.deadline - c.o.now());
      if (left <= d) throw AcmeError(std::string(kErrTimeout), what + ": still not done after " + std::to_string(c.o.deadline.count()) + " ms");
      c.o.sleep(d);
      next = std::min(next * 2, c.o.poll_max);
    }
  };

  // The error of a failed authorization: the challenge's problem document.
  [[noreturn]] static void authz_failed(const json& authz) {
    const std::string ident = identifier_of(authz);
    for (const auto& ch : authz.value("challenges", json::array())) {
      if (ch.is_object() && ch.contains("error") && ch["error"].is_object()) {
        const auto& e = ch["error"];
        throw AcmeError(text(e, "type", std::string(kErrProtocol)), ident + ": " + text(e, "detail", "challenge failed"));
      }
    }
    throw AcmeError("urn:ietf:params:acme:error:unauthorized", ident + ": authorization is " + text(authz, "status", "?"));
  }

  json poll_authz(const std::string& url) {
    Backoff b{*this, o.poll_initial};
    for (;;) {
      auto r = post(url, std::nullopt);
      json a = parse_json(r, "authorization");
      const std::string st = text(a, "status", "");
      if (st == "valid") return a;
      if (st != "pending") authz_failed(a);
      b.wait(r, "authorization " + url);
    }
  }

  json poll_order(const std::string& url, std::string_view want, json order) {
    Backoff b{*this, o.poll_initial};
    for (;;) {
      const std::string st = text(order, "status", "");
      if (st == want) return order;
      if (st == "invalid") {
        std::string detail = "order " + url + " is invalid";
        if (order.contains("error") && order["error"].is_object()) detail += ": " + text(order["error"], "detail", "");
        throw AcmeError(order.contains("error") ? text(order["error"], "type", std::string(kErrProtocol)) : std::string(kErrProtocol), detail);
      }
      if (st == "valid" && want == "ready") return order;  // already finalised (e.g. reused order)
      if (st != "pending" && st != "ready" && st != "processing") protocol_error("order " + url + ": unexpected status '" + st + "'");
      net::ClientResponse none;
      b.wait(none, "order " + url);
      order = parse_json(post(url, std::nullopt), "order");
    }
  }

  IssuedCert issue(const std::vector<std::string>& domains) {
    if (domains.empty()) throw std::invalid_argument("acme: no domains to certify");
    deadline = o.now() + o.deadline;
    ensure_account();

    json ids = json::array();
    for (const auto& d : domains) ids.push_back({{"type", "dns"}, {"value", d}});
    auto r = post(directory()["newOrder"].get<std::string>(), json{{"identifiers", ids}});
    json order = parse_json(r, "newOrder");
    const auto order_url = r.header("location");
    if (!order_url) protocol_error("newOrder: no Location header");
    const std::string finalize_url = str_field(order, "finalize", "order");
    if (!order.contains("authorizations") || !order["authorizations"].is_array()) protocol_error("order: no authorizations");

    TokenGuard guard{store, {}};
    std::vector<std::string> pending;
    for (const auto& au : order["authorizations"]) {
      if (!au.is_string()) protocol_error("order: authorization URL is not a string");
      const std::string url = au.get<std::string>();
      json authz = parse_json(post(url, std::nullopt), "authorization");
      const std::string st = text(authz, "status", "");
      if (st == "valid") continue;  // reused by the CA
      if (st != "pending") authz_failed(authz);
      std::optional<json> http01;
      for (const auto& ch : authz.value("challenges", json::array()))
        if (ch.is_object() && text(ch, "type", "") == "http-01") http01 = ch;
      if (!http01) throw AcmeError(std::string(kErrNoHttp01), identifier_of(authz) + ": the CA offered no http-01 challenge");
      const std::string token = str_field(*http01, "token", "challenge");
      if (!valid_token(token)) protocol_error("challenge token is not base64url");
      store.put(token, token + "." + thumb);
      guard.tokens.push_back(token);
      if (http01->value("status", "") == "pending") post(str_field(*http01, "url", "challenge"), json::object());  // "ready, come and look"
      pending.push_back(url);
    }
    for (const auto& url : pending) poll_authz(url);
    order = poll_order(*order_url, "ready", parse_json(post(*order_url, std::nullopt), "order"));

    // New key per certificate: a leaked old key never outlives its certificate.
    ossl::Pkey cert_key(EVP_EC_gen(o.cert_key_p384 ? "P-384" : "P-256"));
    if (!cert_key) throw std::runtime_error("acme: certificate key generation failed");
    if (text(order, "status", "") == "ready")
      order = parse_json(post(finalize_url, json{{"csr", identity::base64url_encode(make_csr(domains, cert_key.get()))}}), "finalize");
    order = poll_order(*order_url, "valid", std::move(order));

    const std::string cert_url = str_field(order, "certificate", "order");
    auto cr = post(cert_url, std::nullopt, false, "application/pem-certificate-chain");
    IssuedCert out{cr.body, private_pem(cert_key.get()), 0};
    auto na = not_after_from_pem(out.chain_pem);
    if (!na) protocol_error("certificate download: no PEM certificate");
    out.not_after = *na;
    // The CA must have certified our key (and not, say, a reused order's).
    ossl::Bio b(BIO_new_mem_buf(out.chain_pem.data(), static_cast<int>(out.chain_pem.size())));
    X509Ptr leaf(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
    if (!leaf || X509_check_private_key(leaf.get(), cert_key.get()) != 1) protocol_error("issued certificate does not match the CSR key");
    return out;
  }
};

AcmeClient::AcmeClient(const net::HttpClient& http, ChallengeStore& challenges, AcmeOptions opts)
    : impl_(std::make_unique<Impl>(http, challenges, std::move(opts))) {}
AcmeClient::~AcmeClient() = default;
IssuedCert AcmeClient::issue(const std::vector<std::string>& domains) { return impl_->issue(domains); }
const std::string& AcmeClient::ensure_account() {
  impl_->deadline = impl_->o.now() + impl_->o.deadline;
  return impl_->ensure_account();
}
const std::string& AcmeClient::thumbprint() const noexcept { return impl_->thumb; }
const AcmeStats& AcmeClient::stats() const noexcept { return impl_->stats; }

// ---------------------------------------------------------------- free functions

std::string generate_account_key_pem() {
  auto k = identity::EcKey::generate(identity::Curve::kP256);
  if (!k) throw std::runtime_error("acme: account key generation failed");
  return k->pkcs8_pem();
}

std::vector<std::string> cert_domains(std::string_view id_tag, std::string_view app_domain) {
  return {"cl-o." + std::string(id_tag), std::string(app_domain.empty() ? id_tag : app_domain)};
}

std::optional<int64_t> not_after_from_pem(std::string_view chain_pem) {
  ossl::Bio b(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  if (!b) return std::nullopt;
  X509Ptr cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!cert) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

bool needs_renewal(int64_t not_after, int64_t now, std::chrono::seconds threshold) { return not_after - now < threshold.count(); }

}  // namespace cumulo::acme
