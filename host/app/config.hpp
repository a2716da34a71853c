// Configuration: a JSON file plus the reference server's environment
// variables (spec/core.md §1.3), with defaults that give a working embedded
// instance under ./data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cumulo::app {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One adapter of a backend profile: which factory and its JSON options.
struct AdapterSpec {
  std::string factory;
  std::string options_json = "{}";
};

/// A named set of adapters (keys: "auth", "meta", "blob", "rtdb", "crdt").
struct Profile {
  std::string name;
  std::map<std::string, AdapterSpec> adapters;
};

struct TenantConfig {
  std::string id_tag;
  std::string profile;  // empty = default profile
};

struct CertConfig {
  std::string domain;  // SNI name, e.g. cl-o.alice.example
  std::filesystem::path cert_file, key_file;
};

/// Login hardening (spec/rest-api.md §2.1, runtime.md §8).
struct AuthConfig {
  uint32_t login_failure_delay_ms = 1000;  // [impl]: a wrong password answers after 1 s
  uint32_t lockout_max_failures = 5;       // consecutive wrong passwords that lock the account
  uint32_t lockout_seconds = 900;
  bool rate_limits = true;  // per-IP buckets (auth, federation, general, websocket)
};

/// Outbound HTTPS (remote profiles, PROXY token keys, ACME).
struct OutboundConfig {
  /// "host:port" → "ip:port" (CURLOPT_CONNECT_TO): local federation tests
  /// map cl-o.<idTag>:443 to a loopback port.
  std::map<std::string, std::string> resolve;
  std::string ca_file;  // extra trust anchors (a test CA); empty: system store
  uint32_t timeout_ms = 10000;
};

/// Federation timing (spec/actions-federation.md §10.3, §16; [impl] defaults).
struct FederationConfig {
  int64_t delivery_min_wait_s = 10, delivery_max_wait_s = 43200;
  int delivery_attempts = 50;
  int64_t verify_min_wait_s = 60, verify_max_wait_s = 3600;
  int verify_attempts = 10;
  int64_t stat_window_s = 10;  // a STAT goes out this long after the first change
  uint32_t request_timeout_ms = 10000;
};

/// Certificates from an ACME CA by HTTP-01 (spec/core.md §6.3-6.4).
struct AcmeConfig {
  std::string email;  // ACME_EMAIL; empty: ACME off
  std::string directory = "https://acme-v02.api.letsencrypt.org/directory";
  std::string ca_file;  // trust anchor of the ACME server's own HTTPS (pebble in tests)
  uint32_t renew_before_days = 30;
};

struct Config {
  std::string mode = "standalone";  // standalone | proxy
  std::string listen = "0.0.0.0:1443";
  std::string listen_http = "0.0.0.0:1080";  // "" disables (standalone only)
  std::filesystem::path data_dir = "./data";
  std::string base_id_tag, base_app_domain, base_password;
  std::vector<std::filesystem::path> plugin_dirs;
  std::string admin_token;  // empty: generated into DATA_DIR/admin.token
  std::vector<std::string> trusted_proxies = {"127.0.0.1", "::1"};

  size_t body_limit = 1 << 20;  // [impl] default 1 MiB
  size_t header_limit = 16 << 10;
  uint32_t request_timeout_ms = 30000;
  uint32_t shutdown_grace_ms = 10000;
  uint32_t io_threads = 2;
  uint32_t blocking_threads = 8;
  uint32_t workers_high = 1, workers_medium = 2, workers_low = 1;

  std::string log_level = "info";
  std::string log_format = "text";  // text | json

  std::map<std::string, Profile> profiles;
  std::string default_profile = "embedded";
  std::vector<TenantConfig> tenants;
  std::vector<CertConfig> certs;
  std::map<std::string, std::string> extension_options;  // factory → options JSON
  AuthConfig auth;
  OutboundConfig outbound;
  FederationConfig federation;
  AcmeConfig acme;

  /// Reads `file` (if given and present) then applies environment variables
  /// through `getenv`. Throws ConfigError naming the offending key.
  static Config load(const std::optional<std::filesystem::path>& file, const std::function<const char*(const char*)>& getenv);

  /// Listen address split into host and port.
  static std::pair<std::string, uint16_t> split_listen(const std::string& addr);
};

}  // namespace cumulo::app
