// A real ACME CA for tests: Debian's pebble with pebble-challtestsrv as its
// DNS (every name → 127.0.0.1), started as child processes on free loopback
// ports. pebble's validator fetches every HTTP-01 answer from one port
// (`http01_port`), whatever the identifier.
//
//   test::Pebble pebble(http01_port);            // throws if it does not come up
//   acme::AcmeOptions o; o.directory_url = pebble.directory_url();
//   acme::AcmeClient c(pebble.http(), store, o);  // trusts pebble's API CA
//   verify(chain, pebble.root_pem());             // the issuing root (/roots/0)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "net/http_client.hpp"
#include "net/x509.hpp"

namespace cumulo::test {

/// A child process (posix_spawn) with stdout+stderr in `log`; SIGTERM, then
/// SIGKILL after 5 s, on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::filesystem::path& log);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  bool running() const;
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_;
};

/// /usr/bin/pebble and /usr/bin/pebble-challtestsrv are installed.
bool have_pebble();

/// pebble + challtestsrv for one test (suite).
class Pebble {
 public:
  /// `nonce_reject_percent`: PEBBLE_WFE_NONCEREJECT (badNonce tests).
  explicit Pebble(uint16_t http01_port, int nonce_reject_percent = 0);
  ~Pebble();
  Pebble(const Pebble&) = delete;
  Pebble& operator=(const Pebble&) = delete;

  std::string directory_url() const { return "https://localhost:" + std::to_string(acme_port_) + "/dir"; }
  std::string mgmt_url() const { return "https://localhost:" + std::to_string(mgmt_port_); }
  /// Trusts pebble's API CA; "localhost:<port>" pinned to 127.0.0.1.
  const net::HttpClient& http() const { return *http_; }
  /// The root that signs issued certificates (management API /roots/0).
  const std::string& root_pem() const { return root_pem_; }
  /// The CA of pebble's own HTTPS endpoints, as PEM and as a file.
  const std::string& api_ca_pem() const { return api_ca_.cert_pem; }
  std::filesystem::path api_ca_file() const { return dir_ / "api-ca.pem"; }
  uint16_t acme_port() const { return acme_port_; }
  std::string logs() const;

 private:
  std::filesystem::path dir_;
  net::KeyCert api_ca_;
  uint16_t acme_port_ = 0, mgmt_port_ = 0;
  std::unique_ptr<Child> challtestsrv_, pebble_;
  std::unique_ptr<net::HttpClient> http_;
  std::string root_pem_;
};

}  // namespace cumulo::test
