// ACME (RFC 8555) certificate issuance with the HTTP-01 challenge
// (spec/core.md §6.3-6.5). One order per tenant for
// [cl-o.<idTag>, <appDomain>] (a SAN certificate), as [impl] does.
//
//   acme::ChallengeStore challenges;            // read by the port-80 listener
//   net::HttpClient http;                       // system trust store
//   acme::AcmeOptions o;
//   o.directory_url = "https://acme-v02.api.letsencrypt.org/directory";
//   o.account_key_pem = stored_or(acme::generate_account_key_pem());
//   o.contact_email = "admin@example.com";
//   acme::AcmeClient client(http, challenges, o);
//   acme::IssuedCert c = client.issue(acme::cert_domains("alice.example", "alice.example"));
//   // store c.chain_pem / c.key_pem / c.not_after (AuthAdapter), load into CertStore
//
// The HTTP listener answers GET /.well-known/acme-challenge/{token} with
// challenges.get(token) as text/plain (404 when absent). issue() publishes
// tokens before telling the CA and withdraws them when it returns or throws.
// issue() blocks for the whole exchange (seconds): run it off the event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_client.hpp"

namespace cumulo::acme {

/// token → key authorization, for the HTTP-01 responder. Thread-safe.
class ChallengeStore {
 public:
  void put(const std::string& token, const std::string& key_authorization);
  void erase(const std::string& token);
  std::optional<std::string> get(const std::string& token) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> map_;
};

/// An ACME failure. `type` is the problem document's type
/// ("urn:ietf:params:acme:error:unauthorized", …) or a local
/// "cumulo:acme:*" type (timeout, protocol, transport); `detail` is the
/// server's human-readable text.
class AcmeError : public std::runtime_error {
 public:
  AcmeError(std::string type, std::string detail, long http_status = 0);
  const std::string& type() const noexcept { return type_; }
  const std::string& detail() const noexcept { return detail_; }
  long http_status() const noexcept { return status_; }

 private:
  std::string type_, detail_;
  long status_;
};

inline constexpr std::string_view kErrBadNonce = "urn:ietf:params:acme:error:badNonce";
inline constexpr std::string_view kErrTimeout = "cumulo:acme:timeout";
inline constexpr std::string_view kErrProtocol = "cumulo:acme:protocol";    // unexpected server answer
inline constexpr std::string_view kErrTransport = "cumulo:acme:transport";  // HttpError underneath
inline constexpr std::string_view kErrNoHttp01 = "cumulo:acme:no-http-01";  // CA offered no HTTP-01

struct AcmeOptions {
  std::string directory_url{};
  /// The account key as PKCS#8 PEM (EC P-256 → ES256, or P-384 → ES384).
  /// The caller persists it: the account is identified by this key.
  std::string account_key_pem{};
  std::string contact_email{};  // sent as "mailto:<email>"; optional
  /// Polling of authorizations and the order: first wait, doubling up to
  /// poll_max, and one deadline for the whole issue() call ([impl]: 1 s, 90 s).
  std::chrono::milliseconds poll_initial{1000};
  std::chrono::milliseconds poll_max{8000};
  std::chrono::milliseconds deadline{90000};
  bool cert_key_p384 = false;  // certificate key: P-256 by default
  uint32_t request_timeout_ms = 30000;
  /// Injected for tests; default: steady_clock / this_thread::sleep_for.
  std::function<std::chrono::steady_clock::time_point()> now{};
  std::function<void(std::chrono::milliseconds)> sleep{};
};

struct IssuedCert {
  std::string chain_pem;  // leaf first, then intermediates
  std::string key_pem;    // PKCS#8 PEM of the new certificate key
  int64_t not_after = 0;  // leaf notAfter, Unix seconds
};

struct AcmeStats {
  uint64_t posts = 0;              // JWS POSTs sent, retries included
  uint64_t bad_nonce_retries = 0;  // POSTs re-sent after a badNonce answer
};

/// Not thread-safe; one issue() at a time per client. The account URL is
/// cached after the first call.
class AcmeClient {
 public:
  /// Throws std::invalid_argument if the account key is not an EC P-256/P-384 private key.
  AcmeClient(const net::HttpClient& http, ChallengeStore& challenges, AcmeOptions opts);
  ~AcmeClient();
  AcmeClient(const AcmeClient&) = delete;
  AcmeClient& operator=(const AcmeClient&) = delete;

  /// Orders, validates (HTTP-01), finalises and downloads a certificate whose
  /// SANs are `domains` (first one also the CN). Throws AcmeError.
  IssuedCert issue(const std::vector<std::string>& domains);

  /// Registers the account (or finds the existing one for this key) and
  /// returns its URL (the JWS "kid"). issue() calls it as needed.
  const std::string& ensure_account();

  /// RFC 7638 JWK thumbprint of the account key (base64url): the part after
  /// the '.' in every key authorization.
  const std::string& thumbprint() const noexcept;
  const AcmeStats& stats() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A fresh P-256 account key as PKCS#8 PEM, for the caller to store.
std::string generate_account_key_pem();

/// The identifiers of one tenant certificate ([impl]):
/// [cl-o.<idTag>, appDomain], or [cl-o.<idTag>, idTag] without an app domain.
std::vector<std::string> cert_domains(std::string_view id_tag, std::string_view app_domain);

/// notAfter of the first certificate in a PEM chain (Unix seconds), or
/// nullopt when no certificate parses.
std::optional<int64_t> not_after_from_pem(std::string_view chain_pem);

/// True when fewer than `threshold` remain before `not_after` (spec §6.4: 30 days).
bool needs_renewal(int64_t not_after, int64_t now, std::chrono::seconds threshold = std::chrono::hours(24 * 30));

}  // namespace cumulo::acme
