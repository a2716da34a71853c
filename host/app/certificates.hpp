// Tenant TLS certificates from ACME (spec/core.md §6.2-6.5): issuance by
// HTTP-01, storage in the auth adapter, SNI cache updates without a restart,
// and the renewal pass the scheduler runs at startup and daily.
//
// Storage (auth adapter secrets):
//   tn 0, default profile: "acme_account" = {value: account key PEM, meta: {directory, email}}
//   each tenant:           "tls_cert"     = {value: key PEM, expiresAt: notAfter,
//                                            meta: {chain, domains, issuedAt, failures, lastError}}
// A tenant whose first issuance failed has a "tls_cert" with an empty value
// and no chain: it keeps the failure count and stays due.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/acme_client.hpp"
#include "app/backends.hpp"

namespace cumulo::net {
class CertStore;
class HttpClient;
}  // namespace cumulo::net

namespace cumulo::runtime {
class Scheduler;
}

namespace cumulo::app {

inline constexpr std::string_view kAcmeRenewKind = "acme.renew";
inline constexpr std::string_view kCertSecret = "tls_cert";
inline constexpr std::string_view kAcmeAccountSecret = "acme_account";

struct CertRenewal {
  std::string id_tag;
  std::vector<std::string> domains;
  std::string status;  // "issued" | "valid" (not due) | "failed"
  int64_t not_after = 0;
  int failures = 0;  // consecutive failed attempts
  std::string error;
  nlohmann::json to_json() const;
};

class CertificateManager {
 public:
  CertificateManager(const Config& cfg, Backends& backends, net::CertStore& certs);
  ~CertificateManager();
  CertificateManager(const CertificateManager&) = delete;
  CertificateManager& operator=(const CertificateManager&) = delete;

  /// ACME issues certificates: standalone mode with acme.email set.
  bool enabled() const;
  /// Read by GET /.well-known/acme-challenge/{token}; filled during issuance.
  acme::ChallengeStore& challenges() { return challenges_; }

  /// Puts every stored certificate into the CertStore for each of its
  /// domains; returns how many domains were loaded. Errors are logged per tenant.
  size_t load_all();

  /// Issues a certificate for every tenant whose stored one is missing or
  /// expires within acme.renewBeforeDays of `now` (every tenant if `force`),
  /// stores it and serves it at once. One tenant's failure is logged and
  /// recorded in its secret; the others go on. Serialised: concurrent calls wait.
  std::vector<CertRenewal> renew_due(int64_t now, bool force = false);

  /// The certificate names of a tenant: [cl-o.<idTag>, appDomain] where the
  /// app domain is baseAppDomain for the base tenant, the idTag otherwise.
  std::vector<std::string> domains_for(const std::string& id_tag) const;

  /// "M H * * *" (UTC) derived from a stable hash of `base_id_tag`, so that
  /// deployments do not all hit the CA at the same minute ([impl]).
  static std::string daily_cron(std::string_view base_id_tag);

  /// Registers "acme.renew", schedules a run now and the daily cron run.
  void schedule(runtime::Scheduler& scheduler);

 private:
  acme::AcmeClient& client();  // renew_mu_ held
  std::string account_key();   // renew_mu_ held
  plugins::AuthHandle auth_for(const TenantInfo& t) const;

  const Config& cfg_;
  Backends& backends_;
  net::CertStore& certs_;
  acme::ChallengeStore challenges_;
  std::mutex renew_mu_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<acme::AcmeClient> client_;
};

}  // namespace cumulo::app
