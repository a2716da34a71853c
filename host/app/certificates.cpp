#include "app/certificates.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "net/http_client.hpp"
#include "net/server.hpp"
#include "runtime/scheduler.hpp"

namespace cumulo::app {

using json = nlohmann::json;

namespace {

/// The stored record, or null when absent or unreadable (then it is re-issued).
json read_record(const plugins::AuthHandle& auth, const plugins::TenantRef& tn, std::string_view name) {
  const std::string text = auth.find_secret(tn, name);
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json(nullptr);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string chain_of(const json& rec) {
  if (!rec.is_object()) return {};
  const auto m = rec.find("meta");
  if (m == rec.end() || !m->is_object()) return {};
  return m->value("chain", std::string());
}

}  // namespace

json CertRenewal::to_json() const {
  json j = {{"idTag", id_tag}, {"domains", domains}, {"status", status}, {"failures", failures}};
  if (not_after) j["notAfter"] = not_after;
  if (!error.empty()) j["error"] = error;
  return j;
}

CertificateManager::CertificateManager(const Config& cfg, Backends& backends, net::CertStore& certs) : cfg_(cfg), backends_(backends), certs_(certs) {}

CertificateManager::~CertificateManager() = default;

bool CertificateManager::enabled() const { return cfg_.mode == "standalone" && !cfg_.acme.email.empty(); }

plugins::AuthHandle CertificateManager::auth_for(const TenantInfo& t) const {
  auto b = backends_.for_tenant(t);
  if (!b || !b->auth) throw std::runtime_error("profile " + t.profile + " has no auth adapter");
  return b->auth;
}

std::vector<std::string> CertificateManager::domains_for(const std::string& id_tag) const {
  const bool base = id_tag == cfg_.base_id_tag && !cfg_.base_app_domain.empty();
  return acme::cert_domains(id_tag, base ? cfg_.base_app_domain : id_tag);
}

size_t CertificateManager::load_all() {
  size_t loaded = 0;
  for (const auto& t : backends_.tenants()) {
    try {
      const json rec = read_record(auth_for(t), t.ref(), kCertSecret);
      const std::string chain = chain_of(rec);
      if (chain.empty()) continue;
      const std::string key = rec.value("value", std::string());
      for (const auto& d : rec["meta"].value("domains", std::vector<std::string>{})) {
        certs_.put_pem(d, chain, key);
        ++loaded;
      }
    } catch (const std::exception& e) {
      spdlog::error("stored certificate of {}: {}", t.id_tag, e.what());
    }
  }
  return loaded;
}

std::string CertificateManager::account_key() {
  const TenantInfo node{0, "", backends_.default_profile()};
  auto auth = auth_for(node);
  const json rec = read_record(auth, node.ref(), kAcmeAccountSecret);
  if (rec.is_object() && rec.contains("value") && rec["value"].is_string() && !rec["value"].get<std::string>().empty()) return rec["value"];
  // The key *is* the ACME account: generate it once and keep it.
  std::string pem = acme::generate_account_key_pem();
  auth.put_secret(node.ref(),
                  json{{"name", kAcmeAccountSecret}, {"value", pem}, {"meta", {{"directory", cfg_.acme.directory}, {"email", cfg_.acme.email}}}}.dump());
  spdlog::info("acme: generated a new account key");
  return pem;
}

acme::AcmeClient& CertificateManager::client() {
  if (client_) return *client_;
  net::HttpClientOptions ho;
  ho.ca_file = !cfg_.acme.ca_file.empty() ? cfg_.acme.ca_file : cfg_.outbound.ca_file;
  ho.connect_to = cfg_.outbound.resolve;
  http_ = std::make_unique<net::HttpClient>(std::move(ho));
  acme::AcmeOptions o;
  o.directory_url = cfg_.acme.directory;
  o.account_key_pem = account_key();
  o.contact_email = cfg_.acme.email;
  client_ = std::make_unique<acme::AcmeClient>(*http_, challenges_, std::move(o));
  return *client_;
}

std::vector<CertRenewal> CertificateManager::renew_due(int64_t now, bool force) {
  std::lock_guard lk(renew_mu_);  // one AcmeClient, one exchange at a time
  std::vector<CertRenewal> out;
  if (!enabled()) return out;
  const auto threshold = std::chrono::hours(24) * cfg_.acme.renew_before_days;
  for (const auto& t : backends_.tenants()) {
    CertRenewal r;
    r.id_tag = t.id_tag;
    r.domains = domains_for(t.id_tag);
    json rec;
    try {
      auto auth = auth_for(t);
      rec = read_record(auth, t.ref(), kCertSecret);
      const std::string chain = chain_of(rec);
      const json meta = rec.is_object() && rec.contains("meta") && rec["meta"].is_object() ? rec["meta"] : json::object();
      r.failures = meta.value("failures", 0);
      const auto stored_domains = meta.value("domains", std::vector<std::string>{});
      r.not_after = chain.empty() ? 0 : acme::not_after_from_pem(chain).value_or(0);
      // A changed app domain needs a new certificate just like an expiring one.
      const bool due = force || chain.empty() || stored_domains != r.domains || acme::needs_renewal(r.not_after, now, threshold);
      if (!due) {
        r.status = "valid";
        out.push_back(std::move(r));
        continue;
      }
      try {
        const acme::IssuedCert c = client().issue(r.domains);
        // Serve first: the cached SSL_CTX replaces the old one for new handshakes.
        for (const auto& d : r.domains) certs_.put_pem(d, c.chain_pem, c.key_pem);
        auth.put_secret(t.ref(), json{{"name", kCertSecret},
                                      {"value", c.key_pem},
                                      {"expiresAt", c.not_after},
                                      {"meta", {{"chain", c.chain_pem}, {"domains", r.domains}, {"issuedAt", now}, {"failures", 0}, {"lastError", ""}}}}
                                     .dump());
        r.status = "issued";
        r.not_after = c.not_after;
        r.failures = 0;
        spdlog::info("acme: certificate for {} issued, valid until {}", join(r.domains), c.not_after);
      } catch (const std::exception& e) {
        r.status = "failed";
        r.error = e.what();
        ++r.failures;
        spdlog::error("acme: certificate for {} failed (attempt {}): {}", join(r.domains), r.failures, r.error);
        // Keep the current certificate (if any); record why renewal failed.
        json keep = rec.is_object() ? rec : json{{"name", kCertSecret}, {"value", ""}};
        keep["meta"] = meta;
        keep["meta"]["failures"] = r.failures;
        keep["meta"]["lastError"] = r.error;
        keep["meta"]["lastAttemptAt"] = now;
        auth.put_secret(t.ref(), keep.dump());
      }
    } catch (const std::exception& e) {
      // The auth adapter itself failed: report and go on with the next tenant.
      r.status = "failed";
      if (r.error.empty()) r.error = e.what();
      spdlog::error("acme: tenant {}: {}", t.id_tag, e.what());
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string CertificateManager::daily_cron(std::string_view base_id_tag) {
  // FNV-1a: stable across builds and platforms, unlike std::hash.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : base_id_tag) h = (h ^ c) * 1099511628211ull;
  const uint64_t minute_of_day = h % (24 * 60);
  return std::to_string(minute_of_day % 60) + " " + std::to_string(minute_of_day / 60) + " * * *";
}

void CertificateManager::schedule(runtime::Scheduler& scheduler) {
  scheduler.register_kind(std::string(kAcmeRenewKind), [this](const runtime::TaskContext&) {
    const auto results = renew_due(static_cast<int64_t>(std::time(nullptr)));
    size_t failed = 0;
    for (const auto& r : results)
      if (r.status == "failed") ++failed;
    // Failures are recorded per tenant; the next daily run retries them.
    return runtime::TaskResult::ok(json{{"tenants", results.size()}, {"failed", failed}}.dump());
  });
  // Keys dedup against a pending task left by a previous process.
  scheduler.task(std::string(kAcmeRenewKind)).key("startup").priority(runtime::Priority::Low).schedule();
  const std::string cron = daily_cron(cfg_.base_id_tag);
  scheduler.task(std::string(kAcmeRenewKind)).key("daily " + cron).cron(cron).priority(runtime::Priority::Low).schedule();
  spdlog::info("acme: renewal at startup and daily at '{}' UTC", cron);
}

}  // namespace cumulo::app
